from __future__ import annotations

from typing import Any

import pytest
import time_machine

from tests.escalation.helpers import MONDAY


@pytest.fixture
def clock() -> Any:
    """Time stopped at 09:00 on Monday 23 November 2026, moved on by the test."""
    with time_machine.travel(MONDAY, tick=False) as traveller:
        yield traveller
