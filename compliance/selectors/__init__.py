"""Reads for the compliance pages: the dashboard's figures and the audit log's events."""

from compliance.selectors.dashboard import Bar, DashboardFigures, Period, Share, dashboard_figures
from compliance.selectors.log import (
    ChainStatus,
    LogFilters,
    LogPage,
    TrailCheck,
    case_events,
    chain_status,
    check_trail,
    log_page,
    usernames_for,
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
]
