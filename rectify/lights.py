"""The overdue rule and the lights (DOMAIN.md "Lights") as pure functions of dates and states.

Split from rectify.measures (which re-exports every name here and keeps the queries that feed
them) so that `rectify list` and `show` apply the one copy of the rule without loading
SQLAlchemy (rectify.cli.lean): this module imports only the item states and the calendar.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from models.status import Status

if TYPE_CHECKING:
    from rectify.workdays import WorkCalendar

GREEN, YELLOW, RED = "green", "yellow", "red"
LIGHT_LABELS = {GREEN: "绿灯", YELLOW: "黄灯", RED: "红灯", None: "—"}
_WORST = {None: 0, GREEN: 1, YELLOW: 2, RED: 3}

# Open states an item can be overdue in: everything open except 长期坚持 (a state added later,
# e.g. 待领导审核, is covered without touching this line).
OVERDUE_STATUSES = tuple(s for s in Status if s.is_open and s is not Status.ongoing)


def yellow_days(settings) -> int:
    """Working days before a deadline that turn a light yellow: settings.light_yellow_days, or
    the first (largest) rung of the reminder ladder."""
    if getattr(settings, "light_yellow_days", None) is not None:
        return settings.light_yellow_days
    return max((0, *settings.remind_before_days))


def yellow_horizon(today: date, calendar: WorkCalendar, days: int) -> date:
    """The last deadline that is still yellow today: `days` working days left at most."""
    return calendar.add_workdays(today, days + 1) - timedelta(days=1)


def is_overdue(status: Status, open_deadline: date | None, today: date) -> bool:
    return status in OVERDUE_STATUSES and open_deadline is not None and open_deadline < today


def light(status: Status, open_deadline: date | None, today: date, horizon: date,
          ongoing_light: str | None = None) -> str | None:
    """The light of an item (open_deadline: earliest unfinished dated measure) or of one
    measure (its deadline, None when done or 长期坚持) in an item of `status`."""
    if not status.is_open:
        return None
    if status is Status.ongoing:
        return ongoing_light or GREEN
    if open_deadline is None:
        return GREEN
    if open_deadline < today:
        return RED
    return YELLOW if open_deadline <= horizon else GREEN


def worst(*lights: str | None) -> str | None:
    return max(lights, key=_WORST.__getitem__, default=None)


class Lights:
    """Today and the yellow horizon, computed once for a whole list of lights."""

    def __init__(self, today: date, calendar=None, settings=None) -> None:
        from rectify.settings import get_settings
        from rectify.workdays import get_calendar

        settings = settings or get_settings()
        calendar = calendar or get_calendar(settings.calendar_override)
        self.today = today
        self.horizon = yellow_horizon(today, calendar, yellow_days(settings))

    def of(self, status: Status, open_deadline: date | None, ongoing: str | None = None) -> str | None:
        return light(status, open_deadline, self.today, self.horizon, ongoing)
