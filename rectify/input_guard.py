"""A code that may have been read is a code no more (issue #9, stored inputs; no Prefect here).

A form's input, 验证码 included, is stored on the Prefect server where anyone holding the UI
password can read it (flows/input_proof.py). Two consequences, both handled here:

- `refuse_tampered`: the run found a wait's input replaced, deleted or forced twice. Whoever
  held a live code for that step may have had it read: every such code is voided, each holder
  gets a fresh one (【验证码作废】, the 5-wrong-tries email with the reason) and every secretary
  is told (【安全提示】). Once per attempt (run id and pause key): a re-executed run replays the
  same refusal without voiding the fresh codes.
- `burn_refused_code`: a form whose code was right but whose content was refused (an extension
  without a date, a stage already passed …) leaves that live code readable in the stored input:
  it is voided and a fresh one sent to the person, so the next form needs the new email.
- `console_woke`: the console (`rectify submit/review`, rectify/cli/flow_sync.py) wakes a
  waiting run without an input after it changed the ledger; the run tells that from a deleted
  input by the console's audit record written since the wait began.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import ActionCode, AuditRecord, Item, OutboxMail, Person, Role
from models.base import utcnow
from rectify import acting, codes, workflow
from rectify.errors import RectifyError
from rectify.outbox import queue_notice

TAMPER_PREFIX = "input_tampered:"
EXPOSED_PREFIX = "code_exposed:"
WHY_TAMPERED = "所在的表单提交后、流程处理前被他人改动或删除（未予受理）"
WHY_FORM = "提交后、流程处理前被他人改动或删除（未予受理）"  # the secretaries' wording
WHY_EXPOSED = "已随未被受理的表单提交（表单内容保存在流程服务器上，他人可能读取）"
# the console's ledger write precedes its wake; clocks of one machine, a margin for two
CONSOLE_MARGIN = timedelta(seconds=5)


def _void_live(
    session: Session, item_ids: list[int], step: str, now: datetime, person_id: int | None = None
) -> list[tuple[int, int]]:
    """Void the live codes of these items and step; the (person id, item id) they belonged to."""
    where = [
        ActionCode.item_id.in_(item_ids),
        ActionCode.step == step,
        ActionCode.used_at.is_(None),
        ActionCode.voided_at.is_(None),
    ]
    if person_id is not None:
        where.append(ActionCode.person_id == person_id)
    rows = session.execute(select(ActionCode.person_id, ActionCode.item_id).where(*where)).all()
    if rows:
        session.execute(
            update(ActionCode)
            .where(*where)
            .values(voided_at=now, void_reason="exposed")
            .execution_options(synchronize_session=False)
        )
    return sorted(set(rows))


def refuse_tampered(session: Session, item_codes: list[str], step: str, day: date, attempt: str) -> bool:
    """Void, reissue and tell, once per `attempt`. True when done now (False: a replay)."""
    marker = f"{TAMPER_PREFIX}{attempt}"
    if session.scalar(select(OutboxMail.id).where(OutboxMail.key.startswith(f"{marker}:")).limit(1)):
        return False
    items = list(session.scalars(select(Item).where(Item.code.in_(item_codes)).order_by(Item.id)))
    holders = _void_live(session, [i.id for i in items], step, utcnow())
    by_id = {i.id: i for i in items}
    names = []
    for person_id, item_id in holders:
        person = session.get_one(Person, person_id)
        names.append(person.name)
        acting.queue_act(
            session,
            kind="code_reissued",
            person=person,
            item=by_id[item_id],
            step=step,
            day=day,
            key=f"{marker}:{person_id}:{item_id}",
            context={"why": WHY_TAMPERED},
        )
    for secretary in session.scalars(select(Person).where(Person.role == Role.secretary)):
        queue_notice(
            session,
            kind="code_voided",
            to=secretary,
            items=items,
            day=day,
            key=f"{marker}:s{secretary.id}",
            context={
                "person": "、".join(dict.fromkeys(names)) or "办理人",
                "item": "、".join(i.code for i in items),
                "form": codes.STEP_LABELS[step],
                "why": WHY_FORM,
            },
        )
    return True


def _reissue_exposed(
    session: Session, person: Person, item: Item, step: str, day: date, attempt: str
) -> bool:
    """The fresh code for a code voided as exposed (once per attempt and person)."""
    return acting.queue_act(
        session,
        kind="code_reissued",
        person=person,
        item=item,
        step=step,
        day=day,
        key=f"{EXPOSED_PREFIX}{attempt}:{person.id}",
        context={"why": WHY_EXPOSED},
    )


def burn_refused_code(
    session: Session, person: Person, item: Item, step: str, day: date, attempt: str
) -> bool:
    """The person's right code went with a refused form: void it and send a fresh one."""
    if not _void_live(session, [item.id], step, utcnow(), person_id=person.id):
        return False
    return _reissue_exposed(session, person, item, step, day, attempt)


def burn_if_right(
    session: Session, person: Person, item: Item, step: str, typed: object, day: date, attempt: str
) -> bool:
    """A form refused before it could apply (content the run's own form rejects) still holds
    its code in the stored input: if that is the person's live code, void it and send a fresh
    one. A wrong code is not counted here (nothing was attempted in anyone's name)."""
    if not isinstance(typed, str):
        return False
    now = utcnow()
    try:
        codes.consume(session, person, item, step, typed, now=now)
    except codes.CodeRefused:
        return False
    # matched and live: consume marked it used at `now`; it proved nothing, so void it instead
    session.execute(
        update(ActionCode)
        .where(
            ActionCode.person_id == person.id,
            ActionCode.item_id == item.id,
            ActionCode.step == step,
            ActionCode.used_at == now,
        )
        .values(used_at=None, voided_at=now, void_reason="exposed")
        .execution_options(synchronize_session=False)
    )
    return _reissue_exposed(session, person, item, step, day, attempt)


def burn_exposed(db_url: str, code: str, step: str, raw: dict, day: date, attempt: str) -> str | None:
    """A form the run's own rules refused before applying (burn_if_right):
    the name of the person whose right code it carried and who gets a fresh one, else None."""
    from rectify.item_process import PERSON_FIELD, transaction

    name = raw.get(PERSON_FIELD.get(step, ""))
    if not isinstance(name, str):
        return None
    try:
        with transaction(db_url) as session:
            person = workflow.get_person(session, name.strip())
            item = workflow.get_item(session, code, lock=True)
            burnt = burn_if_right(session, person, item, step, raw.get("code"), day, attempt)
    except RectifyError:
        return None
    return person.name if burnt else None


def console_woke(session: Session, item_codes: list[str], since: datetime) -> bool:
    """The console wrote an audit record for one of these items since `since` (its wake)."""
    return (
        session.scalar(
            select(AuditRecord.id)
            .join(Item, Item.id == AuditRecord.item_id)
            .where(
                Item.code.in_(item_codes),
                AuditRecord.proof == codes.BY_CLI,
                AuditRecord.at >= since - CONSOLE_MARGIN,
            )
            .limit(1)
        )
        is not None
    )
