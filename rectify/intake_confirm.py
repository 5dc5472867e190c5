"""交办确认: one emailed code signs the assignments of a register imported through the UI.

Anyone who can open the Prefect UI (one shared password) can start the intake deployment and
type its parameters, so a parameter never signs in a person's name. The intake started from a
deployment imports the register as the system (audited as such) and its new items' 交办 waits
for a proven secretary: every secretary gets one email with one code for the whole batch and
the list of its items; on the intake run's form 「交办确认」 a secretary picks herself, keeps or
unticks items and types her code; every ticked item still at 待交办 is then signed in one
transaction as her, proven by 邮件验证码 (each item's own refusal, e.g. no leader, leaves that
item waiting for its 交办 form). A secretary with a 200-item register types one code, not 200.

The batch is a function of the ledger and the register's item codes (items at 待交办 with an
owner and no run yet), so the intake run, re-executed from the top after its Resume, finds the
same batch; items signed meanwhile (CLI) drop out. The code belongs to the batch's first item
(step `intake`); `confirm` accepts the person's code issued for any item of the batch, so a
batch that shrank keeps its code. No Prefect here.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ActionCode, Item, Person, Role, Status
from rectify import act_codes, acting, codes, workflow
from rectify.errors import Forbidden, RectifyError
from rectify.outbox import queue_notice
from rectify.waits import FormField, Wait, _names, _pick

STEP = act_codes.INTAKE_STEP
TAG = "待交办确认"  # the intake run's worklist tag while it waits


def batch(session: Session, item_codes: list[str]) -> list[Item]:
    """The register's items waiting for a 交办 signature that no run asks for yet."""
    return list(
        session.scalars(
            select(Item)
            .where(
                Item.code.in_(item_codes),
                Item.status == Status.new,
                Item.owner_id.is_not(None),
                Item.flow_run_id.is_(None),
            )
            .order_by(Item.id)
        )
    )


def queue_requests(session: Session, items: list[Item], day: date, link: str | None) -> None:
    """Every secretary's 【交办确认】 email: the batch's items and one code (idempotent on the
    batch's first item: a re-executed intake issues no second code)."""
    if not items:
        return
    anchor = items[0]
    lead = (
        f"本次导入的整改清单有{len(items)}项事项等待交办（责任人、责任领导按整改清单）。"
        "请核对下列事项后，在导入流程运行的“交办确认”表单中选择本人并填写验证码，一次签署全部交办；"
        "不同意交办的事项可在表单中去掉勾选，改为逐项交办。"
    )
    for person in session.scalars(select(Person).where(Person.role == Role.secretary).order_by(Person.id)):
        key = f"intake_confirm:{anchor.id}:{person.id}"
        if acting._queued(session, key):
            continue
        act = act_codes.act_context(session, person, anchor, STEP)
        act.update(link=link, item=f"{anchor.code}等{len(items)}项")  # the intake run's link
        queue_notice(
            session,
            kind="act_request",
            to=person,
            items=items,
            day=day,
            key=key,
            context={"lead": lead, "submission": None, "act": act},
        )


def confirm_wait(
    session: Session, items: list[Item], *, refusal: str = "", entered: dict | None = None
) -> Wait:
    """The intake run's form: which items (all ticked), which secretary, her code."""
    from rectify.describe import md

    entered = entered or {}
    secretaries = _names(session, Role.secretary)
    choices = tuple(i.code for i in items)
    picked = [c for c in entered.get("items") or choices if c in choices]
    wait = Wait(
        STEP,
        "confirm",
        "交办确认",
        [
            FormField("items", "交办事项", "默认全部；去掉的事项改为逐项交办", "multi", choices, picked),
            FormField(
                "secretary",
                "交办人（秘书）",
                "签署交办的秘书",
                "choice",
                secretaries,
                _pick(secretaries, entered.get("secretary")),
            ),
            FormField("code", "验证码", "【交办确认】邮件中发给您本人的6位验证码（一次有效）", max_length=16),
        ],
    )
    rows = "\n".join(
        f"| {md(i.code)} | {md(i.description)} | {md(i.owner.name if i.owner else '')} | "
        f"{md(i.leader.name if i.leader else '')} | {i.deadline or '长期坚持'} |"
        for i in items
    )
    head = f"**上次提交未被受理：{md(refusal)}**\n\n" if refusal else ""
    wait.description = (
        f"{head}请秘书核对本次导入的{len(items)}项事项，选择本人并填写【交办确认】邮件中的验证码，"
        "一次签署下列事项的交办（责任人、责任领导按整改清单）。\n\n"
        f"| 编号 | 问题 | 责任人 | 责任领导 | 完成时限 |\n|---|---|---|---|---|\n{rows}\n"
    )
    return wait


def _code_item(session: Session, person: Person, items: list[Item]) -> Item:
    """The register's item the person's newest 交办确认 code was issued for."""
    item_id = session.scalar(
        select(ActionCode.item_id)
        .where(
            ActionCode.person_id == person.id,
            ActionCode.step == STEP,
            ActionCode.item_id.in_([i.id for i in items]),
        )
        .order_by(ActionCode.id.desc())
        .limit(1)
    )
    if item_id is None:
        raise codes.CodeRefused(f"{person.name}没有本次导入的交办确认验证码")
    return next(i for i in items if i.id == item_id)


def confirm(
    session: Session, items: list[Item], form: dict, day: date, register: list[Item] | None = None
) -> dict[str, str]:
    """Prove the secretary by her code, then sign every ticked item of the batch as her.

    In the caller's transaction; raises CodeRefused (WrongCode) or another RectifyError before
    anything is written. Returns code -> why, for the ticked items whose 交办 was refused (each
    decided before it writes: rectify.item_process.assign_in_session), so they wait for their
    own form."""
    from rectify.item_process import assign_in_session

    if not items:
        raise Forbidden("本次导入已没有等待交办确认的事项")
    codes.prove(session, codes.BY_CODE)
    person = workflow.get_person(session, (form.get("secretary") or "").strip())
    if person.role is not Role.secretary:
        raise Forbidden(f"{person.name}（{person.role.label}）无权交办，仅秘书可以")
    # the code was issued for the batch's first item then; it may have been signed since
    anchor = workflow.get_item(session, _code_item(session, person, register or items).code, lock=True)
    codes.consume(session, person, anchor, STEP, form.get("code"))
    ticked = set(form.get("items") or ())
    refused = {}
    with acting.one_email_per_person(session):  # a person's 交办 notices: one email, as the console's
        for item in items:
            if item.code in ticked:
                reason = assign_in_session(session, item.code, day, person.name)
                if reason:
                    refused[item.code] = reason
    return refused


def apply(
    db_url: str, item_codes: list[str], form: dict, day: date, attempt: str
) -> tuple[str | None, dict[str, str]]:
    """`confirm` in a transaction of its own: (None, refusals per item) when signed, else (the
    one line why, {}); a wrong code is counted as a form's is (rectify.item_process.apply_form)."""
    from rectify.item_process import transaction, wrong_code

    try:
        with transaction(db_url) as session:
            register = list(session.scalars(select(Item).where(Item.code.in_(item_codes))))
            return None, confirm(session, batch(session, item_codes), form, day, register)
    except codes.WrongCode as exc:
        return wrong_code(db_url, exc, attempt, day), {}
    except RectifyError as exc:
        return str(exc), {}
