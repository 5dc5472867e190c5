"""Which light tag (临期 · 逾期) each item's run should carry on a day.

The run list is what the secretary looks at; a tag is the only thing it filters by. 逾期: an
open item with an unfinished dated measure past its deadline (red); 临期: an unfinished dated
measure due within the first reminder rung (5 working days by default, yellow). Closed,
长期坚持-only and unassigned items carry none. Measures done one by one (rectify.measures) no
longer count, as DOMAIN.md's lights say.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Item, Measure, OPEN_STATUSES, Status
from rectify.waits import LIGHT_TAGS
from rectify.workdays import WorkCalendar

OVERDUE, DUE_SOON = LIGHT_TAGS[1], LIGHT_TAGS[0]


def light_tags(session: Session, day: date, calendar: WorkCalendar,
               before: tuple[int, ...]) -> dict[str, str]:
    """flow run id -> 临期 or 逾期, for every item run that should carry one (others: none)."""
    horizon = calendar.add_workdays(day, max((0, *before)) + 1) - timedelta(days=1)
    rows = session.execute(
        select(Item.flow_run_id, func.min(Measure.deadline))
        .join(Measure, Measure.item_id == Item.id)
        .where(Item.flow_run_id.is_not(None), Measure.deadline.is_not(None),
               Measure.done_on.is_(None),
               Item.status.in_([s for s in OPEN_STATUSES if s is not Status.ongoing]))
        .group_by(Item.flow_run_id))
    out = {}
    for run_id, first in rows:
        if first < day:
            out[run_id] = OVERDUE
        elif first <= horizon:
            out[run_id] = DUE_SOON
    return out
