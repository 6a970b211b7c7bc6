"""Reads for the compliance pages: the dashboard's figures and the audit log's events."""

from audit.selectors.dashboard import Bar, DashboardFigures, Period, Share, dashboard_figures
from audit.selectors.log import (
    ChainStatus,
    LogFilters,
    LogPage,
    TrailCheck,
    case_events,
    chain_status,
    check_trail,
    log_page,
    usernames_for,
    visible_events,
)

__all__ = [
    "Bar",
    "ChainStatus",
    "DashboardFigures",
    "LogFilters",
    "LogPage",
    "Period",
    "Share",
    "TrailCheck",
    "case_events",
    "chain_status",
    "check_trail",
    "dashboard_figures",
    "log_page",
    "usernames_for",
    "visible_events",
]
