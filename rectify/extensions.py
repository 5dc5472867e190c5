"""申请延期 (DOMAIN.md "Extensions"): ask, approve, reject. No Prefect.

The owner or the leader asks for a later deadline for one measure, with a reason; a secretary
who is not the asker approves or rejects. Approval moves the measure's deadline, keeps the
first one as 原定时限 (Measure.original_deadline), moves the item's 整改时限 (the latest of its
measures) and restarts the reminder ladder for the measure: the once-per-deadline rungs are
keyed by (item, deadline) in reminder_lines, so a new deadline is a new key.

Like rectify.workflow: roles checked here, guarded UPDATEs whose row count is checked, one audit
record per decision in the caller's transaction (flush only).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import Extension, Item, Measure, Person, Role, Status
from models.status import EXTENSION_STATUS_LABELS
from rectify import change_rules, workflow
from rectify.errors import ConcurrentChange, Forbidden, InvalidInput, InvalidTransition
from rectify.measures import get_measure
from rectify.workdays import WorkCalendar

# How far after the business day a new deadline may be: more than a year is a typing mistake
# (2207 for 2027), not an extension.
MAX_EXTENSION_DAYS = 366
# The secretary's choices, as the form shows them and the command line sends them.
APPROVE, REJECT = "批准延期", "不予延期"
REQUESTABLE = (Status.new, Status.in_progress)


def check_new_deadline(current: date, new: date, day: date, calendar: WorkCalendar) -> None:
    """A date after the current deadline, a working day, within a year of the business day."""
    change_rules.check_day(new)
    if new <= current:
        raise InvalidInput(f"延期后的时限 {new} 须晚于当前时限 {current}")
    if not calendar.is_workday(new):
        raise InvalidInput(f"延期后的时限 {new} 不是工作日，请选择工作日")
    latest = day + timedelta(days=MAX_EXTENSION_DAYS)
    if new > latest:
        raise InvalidInput(f"延期后的时限 {new} 超出合理范围（最迟 {latest}，即一年内）")


def _pending(session: Session, item: Item, position: int) -> Extension | None:
    return session.scalars(
        select(Extension).where(
            Extension.item_id == item.id, Extension.position == position, Extension.status == "pending"
        )
    ).one_or_none()


def request(
    session: Session,
    code: str,
    number: int,
    actor: Person,
    day: date,
    *,
    to: date,
    reason: str,
    calendar: WorkCalendar,
) -> Extension:
    """`rectify extend CODE N --to DATE --reason …` by the item's owner or leader."""
    item = workflow.get_item(session, code, lock=True)
    change_rules.require_item_person(actor, item, "申请延期")
    reason = change_rules.require_text(reason, "延期理由")
    if item.status not in REQUESTABLE:
        raise InvalidTransition(f"事项当前状态为“{item.status.label}”，不能申请延期")
    measure = get_measure(item, number)
    if measure.deadline is None:
        raise InvalidTransition(f"第{number}条措施为长期坚持，没有时限可延")
    if measure.done_on is not None:
        raise InvalidTransition(f"第{number}条措施已于 {measure.done_on} 完成，无需延期")
    if _pending(session, item, measure.position) is not None:
        raise InvalidTransition(f"第{number}条措施已有待审批的延期申请")
    check_new_deadline(measure.deadline, to, day, calendar)
    change_rules.check_item_day(session, item, day)
    workflow.touch(session, item)
    ext = Extension(
        item_id=item.id,
        position=measure.position,
        measure_text=measure.text,
        old_deadline=measure.deadline,
        new_deadline=to,
        reason=reason,
        requested_by_id=actor.id,
        requested_on=day,
        status="pending",
        comment="",
    )
    session.add(ext)
    workflow.record(
        session,
        item,
        actor.name,
        day,
        "extension_request",
        comment=reason,
        details={"measure": number, "from": measure.deadline.isoformat(), "to": to.isoformat()},
    )
    session.flush()
    return ext


def decide(
    session: Session,
    code: str,
    number: int,
    actor: Person,
    day: date,
    *,
    approve: bool,
    comment: str,
    calendar: WorkCalendar,
) -> Extension:
    """The secretary approves or rejects the measure's pending extension (never the asker)."""
    change_rules.require_role(actor, Role.secretary, "审批延期申请")
    item = workflow.get_item(session, code, lock=True)
    measure = get_measure(item, number)
    ext = _pending(session, item, measure.position)
    if ext is None:
        raise InvalidTransition(f"事项 {item.code} 的第{number}条措施没有待审批的延期申请")
    if ext.requested_by_id == actor.id:
        raise Forbidden(f"{actor.name} 是该延期申请的申请人，不能审批自己的申请")
    comment = change_rules.clean(comment, "审批意见")
    if not approve and not comment:
        raise InvalidTransition("不予延期时须填写审批意见")
    change_rules.check_item_day(session, item, day)
    if approve:
        if (
            measure.done_on is not None
            or measure.deadline != ext.old_deadline
            or measure.text != ext.measure_text
        ):  # a re-import may have changed the row
            raise InvalidTransition(f"第{number}条措施在申请后已完成或已变更，请重新申请")
        check_new_deadline(ext.old_deadline, ext.new_deadline, day, calendar)
        moved = session.execute(
            update(Measure)
            .where(Measure.id == measure.id, Measure.deadline == ext.old_deadline, Measure.done_on.is_(None))
            .values(
                deadline=ext.new_deadline,
                deadline_text=ext.new_deadline.isoformat(),
                original_deadline=func.coalesce(Measure.original_deadline, ext.old_deadline),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved != 1:
            raise ConcurrentChange(f"事项 {item.code} 刚被他人修改，请刷新后重试")
        latest = session.scalar(select(func.max(Measure.deadline)).where(Measure.item_id == item.id))
        # the item's 整改时限 (latest measure) and the day the ladder restarts from
        workflow.guarded_update(session, item, item.status, deadline=latest, deadline_changed_on=day)
        session.refresh(measure)
    else:
        workflow.touch(session, item)
    decided = session.execute(
        update(Extension)
        .where(Extension.id == ext.id, Extension.status == "pending")
        .values(
            status="approved" if approve else "rejected",
            decided_by_id=actor.id,
            decided_on=day,
            comment=comment,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if decided != 1:
        raise ConcurrentChange(f"事项 {item.code} 的延期申请刚被他人审批，请刷新后重试")
    session.refresh(ext)
    workflow.record(
        session,
        item,
        actor.name,
        day,
        "extension_approve" if approve else "extension_reject",
        comment=comment,
        details={"measure": number, "from": ext.old_deadline.isoformat(), "to": ext.new_deadline.isoformat()},
    )
    session.flush()
    return ext


def approved_extensions(session: Session, as_of: date) -> list[dict]:
    """经批准延期x项 as of a day, for the report: one dict per approved extension, with the
    measure, 原定时限 (old_deadline) and the new deadline, in the order they were decided."""
    rows = session.execute(
        select(
            Item.code,
            Extension.position,
            Extension.measure_text,
            Extension.old_deadline,
            Extension.new_deadline,
            Extension.reason,
            Extension.decided_on,
        )
        .join(Item, Item.id == Extension.item_id)
        .where(Extension.status == "approved", Extension.decided_on <= as_of)
        .order_by(Extension.decided_on, Extension.id)
    )
    return [
        {
            "code": code,
            "measure": pos + 1,
            "text": text,
            "original_deadline": old,
            "new_deadline": new,
            "reason": reason,
            "approved_on": on,
        }
        for code, pos, text, old, new, reason, on in rows
    ]


def extensions_of(session: Session, item_id: int) -> list[dict]:
    """Every extension of one item, for `show` (--json key `extensions`)."""
    names = dict(session.execute(select(Person.id, Person.name)).all())
    return [
        {
            "measure": e.position + 1,
            "from": e.old_deadline.isoformat(),
            "to": e.new_deadline.isoformat(),
            "reason": e.reason,
            "requested_by": names.get(e.requested_by_id),
            "requested_on": e.requested_on.isoformat(),
            "status": e.status,
            "status_label": EXTENSION_STATUS_LABELS[e.status],
            "decided_by": names.get(e.decided_by_id),
            "decided_on": e.decided_on.isoformat() if e.decided_on else None,
            "comment": e.comment,
        }
        for e in session.scalars(select(Extension).where(Extension.item_id == item_id).order_by(Extension.id))
    ]
