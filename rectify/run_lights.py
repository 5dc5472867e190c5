"""Which light tag (临期 · 逾期) each item's run should carry on a day.

The run list is what the secretary looks at; a tag is the only thing it filters by. 逾期: an
open item with an unfinished dated measure past its deadline (red); 临期: an unfinished dated
measure due within the first reminder rung (5 working days by default, yellow). Closed,
长期坚持-only and unassigned items carry none. Measures done one by one (rectify.measures) no
longer count, as DOMAIN.md's lights say.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Item, Measure
from rectify import measures as rules
from rectify.waits import LIGHT_TAGS
from rectify.workdays import WorkCalendar

TAGS: dict[str | None, str] = {rules.RED: LIGHT_TAGS[1], rules.YELLOW: LIGHT_TAGS[0]}  # 逾期, 临期


def light_tags(
    session: Session, day: date, calendar: WorkCalendar, before: tuple[int, ...]
) -> dict[str, str]:
    """flow run id -> 临期 or 逾期, for every item run that should carry one (others: none):
    rectify.measures' light of the item's earliest unfinished dated measure, yellow within the
    first (largest) rung of `before`."""
    horizon = rules.yellow_horizon(day, calendar, max((0, *before)))
    rows = session.execute(
        select(Item.flow_run_id, Item.status, func.min(Measure.deadline))
        .join(Measure, Measure.item_id == Item.id)
        .where(
            Item.flow_run_id.is_not(None),
            Measure.deadline.is_not(None),
            Measure.done_on.is_(None),
            Item.status.in_(rules.OVERDUE_STATUSES),
        )
        .group_by(Item.flow_run_id, Item.status)
    )
    out: dict[str, str] = {}
    for run_id, status, first in rows:
        if run_id and (tag := TAGS.get(rules.light(status, first, day, horizon))):
            out[run_id] = tag
    return out
