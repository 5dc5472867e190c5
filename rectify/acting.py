"""Act from the email: the requests that carry a link to the item's run and the person's code.

Each function queues its emails in the caller's transaction and issues each recipient's code
in that same transaction (rectify.codes), so an email and its code exist together or not at all.
A code is personal: an email that carries one goes to that person alone, never as a copy (the
leader gets a copy of their own, with their own code, where they may act too).
Idempotent on the outbox key: a retried step finds its email queued and issues no new code
(which would otherwise void the one in the queued email).
Inside `one_email_per_person` (the intake's one transaction) a person's 交办 notices become one
email listing every item with its own link and code; outside it (`rectify assign`, the 交办
form of one item), a 交办 notice for a person who has one of the same day still waiting to be
sent extends that email instead of making a second (`_extend`). Links and codes are bound when
the email is sent (rectify.links), so they point to the run the item has then.
The code and link each email shows are rectify.act_codes'; the fresh codes sent when old ones
stop working (wrong guesses, a replaced run, rekeying) are rectify.code_reissue's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ActionCode, AuditRecord, Item, OutboxMail, Person, ReminderLine, Role
from rectify import codes, links
from rectify.act_codes import act_context, act_contexts, run_link
from rectify.outbox import queue_notice, render_notice


def _queued(session: Session, key: str) -> bool:
    return session.scalar(select(OutboxMail.id).where(OutboxMail.key == key)) is not None


BATCHED_KINDS = ("assigned",)
BATCH_PREFIX = "batch:"


def _batched(session: Session, kind: str, person: Person, item: Item) -> bool:
    """This person was told about this item in a batched email of this kind already (a batch
    email has one key for all its items, so its items are found by its reminder lines)."""
    return (
        session.scalar(
            select(OutboxMail.id)
            .join(ReminderLine, ReminderLine.outbox_id == OutboxMail.id)
            .where(
                OutboxMail.key.startswith(f"{BATCH_PREFIX}{kind}:"),
                ReminderLine.item_id == item.id,
                ReminderLine.rung == kind,
                ReminderLine.recipient_id == person.id,
            )
            .limit(1)
        )
        is not None
    )


@contextmanager
def one_email_per_person(session: Session) -> Iterator[None]:
    """Inside, the 交办 notices queued (the intake signs a whole register in one transaction)
    are collected and, at the end, go as one email per person and day listing every item, each
    with its own link and code (issue #9: 40 items of one owner were 40 emails). A person with
    one item gets the ordinary single-item email."""
    outer = session.info.get("act_batch")
    batch: list[tuple] = [] if outer is None else outer
    session.info["act_batch"] = batch
    try:
        yield
    finally:
        if outer is None:
            session.info.pop("act_batch", None)
    if outer is None:
        _flush_batch(session, batch)


def _flush_batch(session: Session, batch: list[tuple]) -> None:
    groups: dict[tuple, list[tuple]] = {}
    for entry in batch:
        kind, person, _item, _step, day, _key, _context = entry
        groups.setdefault((kind, person.id, day), []).append(entry)
    for (kind, _pid, day), entries in groups.items():
        pending = _pending_notice(session, kind, entries[0][1], day)
        if pending is not None:  # the person's email of the day has not gone yet: extend it
            _extend(session, pending, [(e[2], e[3]) for e in entries])
            continue
        if len(entries) == 1:
            kind, person, item, step, day, key, context = entries[0]
            queue_act(
                session, kind=kind, person=person, item=item, step=step, day=day, key=key, context=context
            )
            continue
        person = entries[0][1]
        keys = "|".join(e[5] for e in entries)
        key = (
            f"{BATCH_PREFIX}{kind}:{day.isoformat()}:{person.id}:"
            + hashlib.sha1(keys.encode()).hexdigest()[:16]
        )
        if _queued(session, key):
            continue
        acts = act_contexts(session, person, [(e[2], e[3]) for e in entries])
        queue_notice(
            session,
            kind=kind,
            to=person,
            items=[e[2] for e in entries],
            day=day,
            key=key,
            item_acts=acts,
            context=dict(entries[0][6] or {}, acts_until=max(a["expires"] for a in acts)),
        )


def _pending_notice(session: Session, kind: str, person: Person, day: date) -> OutboxMail | None:
    """The person's email of this kind and day that no delivery has claimed yet, locked: a
    delivery that claims it first (FOR UPDATE SKIP LOCKED) makes the next notice a new email;
    one that comes after our commit sends the extended email."""
    return session.scalars(
        select(OutboxMail)
        .where(
            OutboxMail.source == "notice",
            OutboxMail.kind == kind,
            OutboxMail.recipient_id == person.id,
            OutboxMail.day == day,
            OutboxMail.status == "pending",
            OutboxMail.claimed_by.is_(None),
        )
        .order_by(OutboxMail.id)
        .limit(1)
        .with_for_update()
    ).first()


def _extend(session: Session, row: OutboxMail, new: list[tuple[Item, str]]) -> None:
    """Add items to a 交办 email not sent yet: re-rendered listing every item, each with its own
    link and code (the ones already issued for it, found by the tokens it carries, and a fresh
    one for each new item); the email's key becomes a batch key, so the items' own notices are
    known as told (`_batched`) when a step is retried."""
    person = session.get(Person, row.recipient_id)
    told_ids = list(
        dict.fromkeys(
            session.scalars(
                select(ReminderLine.item_id).where(ReminderLine.outbox_id == row.id).order_by(ReminderLine.id)
            )
        )
    )
    told = {i.id: i for i in session.scalars(select(Item).where(Item.id.in_(told_ids)))}
    issued = {
        c.item_id: c
        for c in session.scalars(select(ActionCode).where(ActionCode.id.in_(links.code_ids(row.body_text))))
    }
    acts = []
    for item_id in told_ids:
        it, c = told[item_id], issued.get(item_id)
        acts.append(
            {
                "code": codes.token(c.id) if c else None,
                "link": run_link(it),
                "item": it.code,
                "form": codes.STEP_LABELS[c.step] if c else None,
                "expires": c.expires_at.date() if c else None,
            }
        )
    new = [(it, step) for it, step in new if it.id not in told]
    acts += [act_context(session, person, it, step) for it, step in new]
    items = [told[i] for i in told_ids] + [it for it, _ in new]
    row.subject, row.body_text, row.body_html = render_notice(
        session,
        kind=row.kind,
        to=person,
        items=items,
        day=row.day,
        item_acts=acts,
        context={"acts_until": max((a["expires"] for a in acts if a["expires"]), default=None)},
    )
    if not row.key.startswith(BATCH_PREFIX):
        row.key = f"{BATCH_PREFIX}{row.kind}:{row.day.isoformat()}:{person.id}:extended:{row.id}"
    session.add_all(
        ReminderLine(
            outbox_id=row.id,
            item_id=it.id,
            measure_position=-1,
            rung=row.kind,
            recipient_id=person.id,
            deadline=it.deadline,
            occurrence=None,
            days=None,
        )
        for it, _ in new
    )
    session.flush()


def queue_act(
    session: Session,
    *,
    kind: str,
    person: Person,
    item: Item,
    step: str,
    day: date,
    key: str,
    context: dict | None = None,
) -> bool:
    """One email to one person about one item, with their code for `step` (or, inside
    one_email_per_person, collected for that person's one email)."""
    if _queued(session, key) or (kind in BATCHED_KINDS and _batched(session, kind, person, item)):
        return False
    batch = session.info.get("act_batch")
    if batch is not None and kind in BATCHED_KINDS:
        if any(e[5] == key for e in batch):
            return False
        batch.append((kind, person, item, step, day, key, context))
        return True
    if kind in BATCHED_KINDS:
        pending = _pending_notice(session, kind, person, day)
        if pending is not None:  # the person's email of the day has not gone yet: extend it
            _extend(session, pending, [(item, step)])
            return True
    ctx = dict(context or {}, act=act_context(session, person, item, step))
    return (
        queue_notice(session, kind=kind, to=person, items=[item], day=day, key=key, context=ctx) is not None
    )


def owner_and_leader(item: Item) -> list[Person]:
    return [
        p
        for i, p in enumerate((item.owner, item.leader))
        if p is not None and (i == 0 or item.owner is None or p.id != item.owner.id)
    ]


def queue_to_submitters(
    session: Session,
    item: Item,
    *,
    kind: str,
    day: date,
    key: str,
    context: dict | None = None,
    step: str = "submit",
) -> None:
    """交办 or 退回: the owner, and the leader (who may submit too), each with their own code
    (for a 长期坚持 item, step "progress": its form is the 进展报送, never a 销号申请)."""
    for person in owner_and_leader(item):
        queue_act(
            session,
            kind=kind,
            person=person,
            item=item,
            step=step,
            day=day,
            key=f"{key}:{person.id}",
            context=context,
        )


def queue_next_progress(session: Session, item: Item, reporter: Person, day: date, note_id: int) -> None:
    """A 长期坚持 item's progress was recorded: the reporter's code was spent, so the next
    period's 进展报送 code goes to them now (one email per report)."""
    queue_act(
        session,
        kind="act_request",
        person=reporter,
        item=item,
        step="progress",
        day=day,
        key=f"progress:{item.code}:{note_id}:{reporter.id}",
        context={
            "lead": f"事项 {item.code}（长期坚持）的整改进展已登记。下次报送整改进展时，"
            "请使用本邮件中的验证码。",
            "submission": None,
        },
    )


def _submission(session: Session, item: Item) -> dict | None:
    rec = session.scalars(
        select(AuditRecord)
        .where(AuditRecord.item_id == item.id, AuditRecord.action == "submit")
        .order_by(AuditRecord.id.desc())
        .limit(1)
    ).first()
    if rec is None:
        return None
    return {
        "actor": rec.actor,
        "day": rec.day,
        "summary": rec.comment,
        "evidence": (rec.details or {}).get("evidence", []),
    }


def queue_review_requests(session: Session, item: Item, day: date, round_: int) -> None:
    """The item reached a review stage: the leader's 领导审核 request, or every secretary's
    待审核 request (the submitter excluded), each with their own code."""
    from models import Status
    from rectify.waits import reviewers, signoff_leaders

    if item.status is Status.leader_review:
        step, names = "leader_review", signoff_leaders(session, item)
        lead = f"事项 {item.code} 已提交销号申请，请您作为责任领导审核（签字背书）。"
    else:
        step, names = "review", reviewers(session, item)
        lead = f"事项 {item.code} 的销号申请等待秘书审核。"
    people = session.scalars(select(Person).where(Person.name.in_(names))).all()
    submission = _submission(session, item)
    for person in people:
        queue_act(
            session,
            kind="act_request",
            person=person,
            item=item,
            step=step,
            day=day,
            key=f"{step}:{item.code}:{round_}:{person.id}",
            context={"lead": lead, "submission": submission},
        )


def queue_assign_requests(session: Session, item: Item, day: date) -> None:
    """An assignment waits for a secretary's signature: every secretary's 待交办 request."""
    for person in session.scalars(select(Person).where(Person.role == Role.secretary)):
        queue_act(
            session,
            kind="act_request",
            person=person,
            item=item,
            step="assign",
            day=day,
            key=f"assign_request:{item.code}:{person.id}",
            context={
                "lead": f"事项 {item.code} 等待秘书交办，请确认责任人和责任领导后签署交办。",
                "submission": None,
            },
        )


def queue_extension_requests(session: Session, item: Item, ext, day: date) -> None:
    """A 申请延期 arrived: every secretary but the asker gets the 待审批延期 request with a code."""
    lead = (
        f"事项 {item.code} 的第{ext.position + 1}条措施申请延期至 {ext.new_deadline}"
        f"（原时限 {ext.old_deadline}），理由：{ext.reason}。请您审批（批准延期或不予延期）。"
    )
    for person in session.scalars(
        select(Person).where(Person.role == Role.secretary, Person.id != ext.requested_by_id)
    ):
        queue_act(
            session,
            kind="act_request",
            person=person,
            item=item,
            step="extend",
            day=day,
            key=f"extend:{item.code}:{ext.id}:{person.id}",
            context={"lead": lead, "submission": None},
        )


def queue_extension_decided(session: Session, item: Item, ext, day: date) -> None:
    """The secretary decided: the owner and leader are told, each with a fresh 销号申请 code (the
    one spent on the request is gone, and the submission form is asked again)."""
    word = "已批准延期至" if ext.status == "approved" else "不予延期（仍为"
    end = "" if ext.status == "approved" else "）"
    comment = f"审批意见：{ext.comment}。" if ext.comment else ""
    lead = (
        f"事项 {item.code} 第{ext.position + 1}条措施的延期申请{word} "
        f"{ext.new_deadline if ext.status == 'approved' else ext.old_deadline}{end}。{comment}"
        "可继续填写销号申请。"
    )
    for person in owner_and_leader(item):
        queue_act(
            session,
            kind="act_request",
            person=person,
            item=item,
            step="submit",
            day=day,
            key=f"extend_decided:{item.code}:{ext.id}:{person.id}",
            context={"lead": lead, "submission": None},
        )
