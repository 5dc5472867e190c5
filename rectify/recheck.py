"""回头看 (DOMAIN.md "回头看"): a closed item looked at again on its 复核日期.

Each approval sets the 复核日期 (rectify.periods.recheck_date). From that day the secretaries'
daily digest lists the item (rung recheck_due, see recheck_lines) until the secretary records
the result: 巩固 (confirm: the item stays closed, the date is cleared) or 反弹 (the existing
reopen transition: back to 整改中, and the CLI starts the item's new flow run). Both are audit
records, so the counts as of any day replay from the trail: 巩固 = recheck records, 反弹 =
reopen records (every reopen is a finding of a 回头看).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import AuditRecord, Item, Person, Status
from models.status import Role
from rectify import change_rules, workflow
from rectify.errors import InvalidTransition


def _closed_item(session: Session, code: str, actor: Person) -> Item:
    change_rules.require_role(actor, Role.secretary, "进行回头看")
    item = workflow.get_item(session, code, lock=True)
    if item.status is not Status.closed:
        raise InvalidTransition(f"事项 {code} 当前状态为“{item.status.label}”，只有已销号事项才能回头看")
    return item


def confirm(session: Session, code: str, actor: Person, day: date, *, comment: str = "") -> Item:
    """巩固: the closed item stayed fixed. Clears the 复核日期; audited (action recheck)."""
    item = _closed_item(session, code, actor)
    comment = change_rules.clean(comment, "回头看意见")
    change_rules.check_item_day(session, item, day)
    due = item.recheck_on
    workflow._guarded_update(session, item, Status.closed, recheck_on=None)
    workflow.record(
        session,
        item,
        actor.name,
        day,
        "recheck",
        Status.closed,
        Status.closed,
        comment or "整改成效巩固",
        {"result": "confirmed", "recheck_on": due.isoformat() if due else None},
    )
    session.flush()
    return item


def reopen(session: Session, code: str, actor: Person, day: date, *, reason: str) -> Item:
    """反弹: the existing reopen transition (reason required), which clears the 复核日期."""
    _closed_item(session, code, actor)
    return workflow.reopen(session, code, actor, day, reason=reason)


def due_items(session: Session, day: date) -> list[Item]:
    """Closed items whose 复核日期 is on or before `day`, earliest first."""
    return list(
        session.scalars(
            select(Item)
            .where(Item.status == Status.closed, Item.recheck_on <= day)
            .order_by(Item.recheck_on, Item.code)
        )
    )


def recheck_counts(session: Session, as_of: date) -> dict:
    """For the report: 回头看 done (巩固 + 反弹), 巩固, 反弹 up to `as_of`, and still due."""
    by_action = dict(
        session.execute(
            select(AuditRecord.action, func.count())
            .where(AuditRecord.action.in_(("recheck", "reopen")), AuditRecord.day <= as_of)
            .group_by(AuditRecord.action)
        ).all()
    )
    confirmed, reopened = by_action.get("recheck", 0), by_action.get("reopen", 0)
    due = (
        session.scalar(
            select(func.count())
            .select_from(Item)
            .where(Item.status == Status.closed, Item.recheck_on <= as_of)
        )
        or 0
    )
    return {"done": confirmed + reopened, "confirmed": confirmed, "reopened": reopened, "due": due}
