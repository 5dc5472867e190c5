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


def light(
    status: Status, open_deadline: date | None, today: date, horizon: date, ongoing_light: str | None = None
) -> str | None:
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


# The `--json` fields of `rectify list` and `show` built from these rules (rectify.queries and
# the lean read path, rectify.cli.lean, both use them: one copy of the keys and their order).


def deadline_fields(
    deadline: date | None,
    status: Status,
    open_deadline: date | None,
    lights: Lights,
    ongoing: str | None = None,
) -> dict:
    light = lights.of(status, open_deadline, ongoing)
    return {
        "deadline": deadline.isoformat() if deadline else None,
        "deadline_label": deadline.isoformat() if deadline else "长期坚持",
        "overdue": is_overdue(status, open_deadline, lights.today),
        "open_deadline": open_deadline.isoformat() if open_deadline else None,
        "light": light,
        "light_label": LIGHT_LABELS[light],
    }


def report_fields(missed_due: date | None) -> dict:
    """定期报送: whether the last period's note is missing (未按时报送), and its due day."""
    return {
        "unreported": missed_due is not None,
        "report_due": missed_due.isoformat() if missed_due else None,
    }


_STATUS_WORDS = {s: (s.value, s.label) for s in Status}  # enum properties are slow per row


def list_row(
    code: str,
    status: Status,
    category: str,
    source: str,
    department: str,
    description: str,
    owner: str | None,
    leader: str | None,
    deadline: date | None,
    open_deadline: date | None,
    lights: Lights,
    ongoing: str | None,
    missed_due: date | None,
) -> dict:
    """One row of `rectify list --json` (the documented, stable keys)."""
    value, label = _STATUS_WORDS[status]
    return {
        "code": code,
        "status": value,
        "status_label": label,
        "category": category,
        "source": source,
        "department": department,
        "description": description,
        "owner": owner,
        "leader": leader,
        **deadline_fields(deadline, status, open_deadline, lights, ongoing),
        **report_fields(missed_due),
    }
