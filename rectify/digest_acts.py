"""Each item of a daily digest (催办) carries the link to its run and, where the recipient can
act on the step the item waits for, their code for it (issue #9: every email that asks someone
to act carries both).

Which step an item waits for is rectify.waits.current_wait's answer, reduced here to what the
sweep needs and computed set-based (two SELECTs for the whole sweep, whatever the number of
items): 待交办 → 交办 (secretaries), a pending 申请延期 → 延期审批 (secretaries but the asker),
整改中 / 长期坚持 → 销号申请 (the owner and the leader), 待领导审核 → 领导审核 (the leader, unless
they submitted), 待审核 → 销号审核 (secretaries but the submitter). Anyone else (a secretary told
of an overdue item in 整改中, an owner of an item still 待交办) gets the link only.

The codes are issued in the transaction that records the digests (record_reminders), in bulk
(rectify.codes.issue_many), never in the transaction that claims them for delivery: two sweeps
must claim rows without touching anything else. A new code replaces the person's older code for
the same item and step (rectify.codes): the newest email wins, and the digest says so
("请使用本邮件中的验证码"). A dry run renders the digests without codes and issues none.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Extension, Item, Person, Role, Status
from models.base import utcnow
from rectify import codes, links

NO_ACT_SECTIONS = ("recheck_due", "calendar")  # closed items (回头看 on the command line), notices


def act_step(
    status: Status,
    person_id: int,
    role: Role,
    *,
    owner_id: int | None,
    leader_id: int | None,
    submitted_by_id: int | None,
    extension_asker: int | None,
) -> str | None:
    """The step `person` may act on for an item in `status`, or None (link only)."""
    if status is Status.new:
        return "assign" if role is Role.secretary else None
    if extension_asker is not None:
        return "extend" if role is Role.secretary and person_id != extension_asker else None
    if status in (Status.in_progress, Status.ongoing):
        return "submit" if person_id in (owner_id, leader_id) else None
    if status is Status.leader_review:
        return "leader_review" if person_id == leader_id and submitted_by_id != leader_id else None
    if status is Status.submitted:
        return "review" if role is Role.secretary and person_id != submitted_by_id else None
    return None


def attach_acts(session: Session, digests, settings, *, issue: bool) -> int:
    """Put `act` (link, form, code, expiry) on every item entry of `digests`; returns the number
    of codes issued (none unless `issue`)."""
    wanted: list[tuple] = []  # (entry, person id, item id, step)
    item_codes = {
        e["code"]
        for d in digests
        for name, entries in d.sections.items()
        if name not in NO_ACT_SECTIONS
        for e in entries
    }
    if not item_codes:
        return 0
    items = {
        r.code: r
        for r in session.execute(
            select(
                Item.id, Item.code, Item.status, Item.owner_id, Item.leader_id, Item.submitted_by_id
            ).where(Item.code.in_(sorted(item_codes)))
        )
    }
    askers = dict(
        session.execute(
            select(Extension.item_id, Extension.requested_by_id).where(
                Extension.status == "pending", Extension.item_id.in_([r.id for r in items.values()])
            )
        ).all()
    )
    roles = dict(
        session.execute(
            select(Person.id, Person.role).where(Person.id.in_(sorted({d.recipient_id for d in digests})))
        ).all()
    )
    for digest in digests:
        for name, entries in digest.sections.items():
            if name in NO_ACT_SECTIONS:
                continue
            for entry in entries:
                row = items.get(entry["code"])
                if row is None:
                    continue
                step = act_step(
                    row.status,
                    digest.recipient_id,
                    roles[digest.recipient_id],
                    owner_id=row.owner_id,
                    leader_id=row.leader_id,
                    submitted_by_id=row.submitted_by_id,
                    extension_asker=askers.get(row.id),
                )
                entry["act"] = {
                    "link": links.run_link(settings.ui_url, row.id),
                    "item": row.code,
                    "code": None,
                    "form": codes.STEP_LABELS[step] if step else None,
                }
                if step:
                    wanted.append((entry, digest.recipient_id, row.id, step))
    if not issue or not wanted:
        return 0
    now = utcnow()
    plain = codes.issue_many(
        session, [(p, i, s) for _, p, i, s in wanted], now=now, ttl_days=settings.code_ttl_days
    )
    expires = (now + timedelta(days=settings.code_ttl_days)).date()
    for entry, person_id, item_id, step in wanted:
        entry["act"].update(code=plain[(person_id, item_id, step)], expires=expires)
    return len(plain)
