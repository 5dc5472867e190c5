"""A person's decision on an item together with the emails it sends, in the caller's transaction.

交办, 申请销号, the review stages (签字背书, 销号, 退回), 申请延期 and its decision: each applies its
transition through rectify.workflow (or rectify.extensions) and queues, in the same
transaction, the emails and codes of whoever acts next (rectify.acting), so the decision and
its notices commit together or not at all. The command line calls these directly; the item's
flow run calls them through rectify.item_process, which proves the person from the form's
验证码 first.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import AuditRecord, Extension, Item, Person, Status
from rectify import acting, extensions, workflow
from rectify.errors import InvalidTransition
from rectify.outbox import queue_notice


def queue(
    session: Session, *, kind: str, item: Item, day: date, key: str, context: dict | None = None
) -> bool:
    """Queue an email to the owner, copy to the leader, in the caller's transaction.

    Uses the outbox (rectify.outbox.queue_notice, idempotent on key). Returns False when
    the item has no owner to tell.
    """
    if item.owner is None:
        return False
    cc = [item.leader] if item.leader and item.leader.id != item.owner.id else []
    queue_notice(session, kind=kind, to=item.owner, cc=cc, items=[item], day=day, key=key, context=context)
    return True


def assign_item(
    session: Session,
    code: str,
    actor: Person,
    day: date,
    *,
    owner: Person,
    leader: Person | None = None,
    department: str | None = None,
) -> Item:
    """交办 (or a change of owner) and the email to the owner, copy to the leader."""
    item = workflow.assign(session, code, actor, day, owner=owner, leader=leader, department=department)
    acting.queue_to_submitters(session, item, kind="assigned", day=day, key=f"assigned:{code}:{owner.id}")
    return item


def submit_item(
    session: Session,
    code: str,
    actor: Person,
    day: date,
    *,
    summary: str,
    evidence: list[str] = (),
    completes: list[int] = (),
) -> Item:
    """申请销号 (completing the measures `completes` with it) and the request to whoever reviews
    it next (the leader, or the secretaries)."""
    item = workflow.submit(
        session, code, actor, day, summary=summary, evidence=evidence, completes=list(completes)
    )
    acting.queue_review_requests(session, item, day, _round(session, item))
    return item


def review_item(
    session: Session,
    code: str,
    actor: Person,
    day: date,
    *,
    approve: bool,
    comment: str,
    recheck_on: date | None = None,
) -> Item:
    """A decision at the item's review stage, and its emails. The stage decides who may act:
    at 待领导审核 the leader signs off (then the secretaries are asked), at 待审核 a secretary
    closes the item, setting its 复核日期 (回头看: `recheck_on`, or the default months later);
    a rejection at either returns it to 整改中 with the 补充整改要求."""
    stage = workflow.get_item(session, code).status
    if not approve:
        item = workflow.reject(session, code, actor, day, comment=comment)
        acting.queue_to_submitters(
            session,
            item,
            kind="rejected",
            day=day,
            key=f"rejected:{code}:{_round(session, item)}",
            context={"reviewer": actor.name, "comment": comment.strip()},
        )
    elif stage is Status.leader_review:
        if recheck_on is not None:
            raise InvalidTransition("复核日期由秘书在同意销号时填写，领导审核时不填")
        item = workflow.signoff(session, code, actor, day, comment=comment)
        acting.queue_review_requests(session, item, day, _round(session, item))
    else:
        item = workflow.approve(session, code, actor, day, comment=comment, recheck_on=recheck_on)
        queue_closed(session, item, day)
    return item


def _calendar():
    from rectify.settings import get_settings
    from rectify.workdays import get_calendar

    return get_calendar(get_settings().calendar_override)


def request_extension(
    session: Session, code: str, actor: Person, day: date, *, measure: int, to: date, reason: str
) -> Extension:
    """申请延期 and every secretary's (but the asker's) 待审批延期 request with their code."""
    ext = extensions.request(session, code, measure, actor, day, to=to, reason=reason, calendar=_calendar())
    acting.queue_extension_requests(session, workflow.get_item(session, code), ext, day)
    return ext


def decide_extension(
    session: Session, code: str, actor: Person, day: date, *, measure: int, approve: bool, comment: str
) -> Extension:
    """The secretary's decision, and the owner and leader told with a fresh 销号申请 code (the
    one they used for the request is spent)."""
    ext = extensions.decide(
        session, code, measure, actor, day, approve=approve, comment=comment, calendar=_calendar()
    )
    acting.queue_extension_decided(session, workflow.get_item(session, code), ext, day)
    return ext


def _round(session: Session, item: Item) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.item_id == item.id, AuditRecord.action == "submit")
        )
        or 0
    )


def queue_closed(session: Session, item: Item, day: date) -> bool:
    """Tell owner and leader who closed the item, from the approval's own audit record."""
    approval = session.scalars(
        select(AuditRecord)
        .where(AuditRecord.item_id == item.id, AuditRecord.action == "approve")
        .order_by(AuditRecord.id.desc())
        .limit(1)
    ).first()
    context = {
        "reviewer": approval.actor if approval else "",
        "comment": approval.comment if approval else "",
    }
    return queue(
        session,
        kind="closed",
        item=item,
        day=day,
        key=f"closed:{item.code}:{_round(session, item)}",
        context=context,
    )
