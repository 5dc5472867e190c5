"""Fresh codes for codes that stopped working, to whoever must act next.

A code stops working for reasons its person did not choose: the fifth wrong guess voids it,
the item's run is replaced (tasks/run_repair.py: the link in the email points to the old run),
or migration 0008 voided every code issued before codes were keyed. Each case sends the people
who may act on the item's current step (rectify.waits) a new email with a new code, once per
cause, through rectify.acting's queue_act (so in the caller's transaction). Kept apart from
rectify.acting, which says how an act email is made and which occasion sends one.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ActionCode, Item, Person, Role
from models.base import utcnow
from rectify import codes
from rectify.acting import owner_and_leader, queue_act
from rectify.outbox import queue_notice


def reissue_after_tries(session: Session, code_id: int, day: date) -> None:
    """The fifth wrong guess voided a code: a fresh one to its person, and the secretaries told."""
    row = session.get(ActionCode, code_id)
    person, item = session.get(Person, row.person_id), session.get(Item, row.item_id)
    queue_act(
        session,
        kind="code_reissued",
        person=person,
        item=item,
        step=row.step,
        day=day,
        key=f"code_reissued:{code_id}",
        context={"tries": codes.MAX_WRONG_TRIES},
    )
    for secretary in session.scalars(select(Person).where(Person.role == Role.secretary)):
        queue_notice(
            session,
            kind="code_voided",
            to=secretary,
            items=[item],
            day=day,
            key=f"code_voided:{code_id}:{secretary.id}",
            context={
                "person": person.name,
                "item": item.code,
                "form": codes.STEP_LABELS[row.step],
                "tries": codes.MAX_WRONG_TRIES,
            },
        )


def people_for_step(session: Session, item: Item, step: str) -> list[Person]:
    """Who may act on the item's current step (rectify.waits' choices, as Person rows)."""
    from rectify.waits import pending_extension, reviewers, signoff_leaders

    if step == "submit":
        return owner_and_leader(item)
    if step == "assign":
        return list(session.scalars(select(Person).where(Person.role == Role.secretary)))
    if step == "extend":
        ext = pending_extension(session, item)
        return list(
            session.scalars(
                select(Person).where(
                    Person.role == Role.secretary, Person.id != (ext.requested_by_id if ext else -1)
                )
            )
        )
    names = signoff_leaders(session, item) if step == "leader_review" else reviewers(session, item)
    return list(session.scalars(select(Person).where(Person.name.in_(names))))


def queue_relinked(session: Session, item: Item, day: date, new_run: str, why: str) -> int:
    """The item's run was replaced (tasks/run_repair.py): whoever must act next gets the new
    link and a fresh code (the emails they have point to the old run; emails not sent yet are
    bound to the new run anyway, rectify.links). Once per new run and person."""
    from rectify.waits import current_wait

    wait = current_wait(session, item.code)
    if wait is None:
        return 0
    lead = (
        f"事项 {item.code} 的流程运行已重建（原流程运行{why}），此前邮件中的链接已失效。"
        f"请使用本邮件中的新链接和验证码办理{wait.title}。"
    )
    return sum(
        queue_act(
            session,
            kind="act_request",
            person=person,
            item=item,
            step=wait.step,
            day=day,
            key=f"relinked:{item.code}:{new_run}:{person.id}",
            context={"lead": lead, "submission": None},
        )
        for person in people_for_step(session, item, wait.step)
    )


def reissue_rekeyed(session: Session, day: date) -> int:
    """Codes voided by migration 0008 ("rekeyed": issued before codes were keyed) that had not
    expired and still name the step their item waits for: their person gets a fresh code
    (the daily sweep calls this after recording its digests, whose codes count as fresh ones
    too). Once per voided code; returns how many emails were queued."""
    from sqlalchemy import exists
    from sqlalchemy.orm import aliased

    from rectify.waits import current_wait

    newer = aliased(ActionCode)
    rows = session.scalars(
        select(ActionCode)
        .where(
            ActionCode.void_reason == "rekeyed",
            ActionCode.expires_at > utcnow(),
            ActionCode.step != "intake",
            ~exists().where(
                newer.person_id == ActionCode.person_id,
                newer.item_id == ActionCode.item_id,
                newer.step == ActionCode.step,
                newer.id > ActionCode.id,
            ),
        )
        .order_by(ActionCode.id)
    ).all()
    queued = 0
    for row in rows:
        item, person = session.get(Item, row.item_id), session.get(Person, row.person_id)
        wait = current_wait(session, item.code)
        if wait is None or wait.step != row.step or person not in people_for_step(session, item, row.step):
            continue
        queued += queue_act(
            session,
            kind="act_request",
            person=person,
            item=item,
            step=row.step,
            day=day,
            key=f"rekeyed:{row.id}",
            context={
                "lead": f"系统升级后，此前邮件中的验证码已作废。请使用本邮件中的"
                f"新验证码办理事项 {item.code} 的{wait.title}。",
                "submission": None,
            },
        )
    return queued
