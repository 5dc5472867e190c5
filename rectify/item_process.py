"""The ledger side of the per-item flow run (no Prefect here).

The flow `rectification-item` (flows/item.py) waits for people's input and calls these
functions; each one opens its own transaction, reads the item from the ledger and applies at
most one transition through rectify.workflow, so the role rules are the same as on the command
line. A form's input is applied only when its 验证码 proves the person it names
(rectify.codes); input the rules refuse comes back as a reason instead of an exception: the
flow shows it in the next form and waits again.

Which form the run waits for, under which key, is rectify.waits' answer from the ledger, so a
run re-started from the top after a resume computes the same keys and Prefect replays the
inputs it already received. Each decision and the emails it queues (with their codes) are
rectify.decisions', in one transaction; the CLI calls the same functions directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import AuditRecord, Item, Person, Status
from models.db import session_factory
from rectify import acting, code_reissue, codes, extensions, workflow
from rectify.decisions import (
    assign_item,
    decide_extension,
    queue_closed,
    request_extension,
    review_item,
    submit_item,
)
from rectify.errors import Forbidden, InvalidInput, InvalidTransition, RectifyError
from rectify.waits import APPROVE, EXTENSION_REQUEST, REJECT, pending_extension  # noqa: F401

ITEM_DEPLOYMENT = "rectification-item/rectification-item"


@dataclass
class ItemView:
    """What the flow needs to decide its next step, read fresh from the ledger (the form
    itself, its choices and its words come from rectify.waits)."""

    code: str
    status: Status
    owner: str | None
    leader: str | None


def short_title(description: str, limit: int = 16) -> str:
    """The first clause of the problem description, so a person recognises the run."""
    text = " ".join(description.split())
    for mark in "，。；;,.":
        text = text.split(mark, 1)[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_name(code: str, description: str) -> str:
    return f"{code} {short_title(description)}".strip()


def run_tags(category: str, department: str, leader: str | None) -> list[str]:
    pairs = (("类别", category), ("部门", department), ("领导", leader))
    return [f"{k}:{v}" for k, v in pairs if v]


def run_key(code: str, register_date: date) -> str:
    """The item code, qualified by the day the item entered the ledger: offices number their
    registers 1, 2, 3 … every year, and next year's item 1 is a new item that needs its own run."""
    return f"{code}@{register_date.isoformat()}"


def run_request(item: Item, key: str) -> dict:
    """What Prefect needs to create the item's run: name, tags, parameters' title, and the
    idempotency key that makes a retried creation return the same run."""
    return {
        "code": item.code,
        "key": key,
        "name": run_name(item.code, item.description),
        "title": short_title(item.description),
        "tags": run_tags(item.category, item.department, item.leader.name if item.leader else None),
    }


def reopen_run_request(session: Session, code: str) -> tuple[dict, str | None]:
    """The run for a reopened item (回头看) and the id of the run it replaces.

    The key counts the reopens in the audit trail, so each reopen gets a run of its own while a
    retried start of the same reopen gets the same run back.
    """
    item = workflow.get_item(session, code)
    reopens = (
        session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.item_id == item.id, AuditRecord.action == "reopen")
        )
        or 0
    )
    key = f"{run_key(item.code, item.register_date)}#reopen-{reopens}"
    return run_request(item, key), item.flow_run_id


@contextmanager
def transaction(db_url: str) -> Iterator[Session]:
    with session_factory(db_url)() as session, session.begin():
        yield session


def read_item(session: Session, code: str) -> ItemView:
    item = workflow.get_item(session, code)
    return ItemView(
        code=item.code,
        status=item.status,
        owner=item.owner.name if item.owner else None,
        leader=item.leader.name if item.leader else None,
    )


def assign_from_register(
    db_url: str,
    code: str,
    day: date,
    secretary: str | None,
    owner: str | None = None,
    leader: str | None = None,
) -> str | None:
    """交办 to the owner and leader the register names (or the form gives).

    Returns None when done (or already done), else the reason it was refused.
    """
    try:
        with transaction(db_url) as session:
            return assign_in_session(session, code, day, secretary, owner, leader)
    except RectifyError as exc:
        return str(exc)


def assign_in_session(
    session: Session,
    code: str,
    day: date,
    secretary: str | None,
    owner: str | None = None,
    leader: str | None = None,
) -> str | None:
    """The same in the caller's transaction (the intake signs a whole register in one).

    Every refusal is decided before anything is written (role, names, leader, state; the
    guarded UPDATE writes nothing when its row count is 0), so a caller may catch the refusal
    and go on with the next item in the same transaction.
    """
    try:
        item = workflow.get_item(session, code, lock=True)
        if item.status is Status.ongoing and item.owner is not None:
            # 长期坚持 (from the register, or turned so later): no state to move, but the owner
            # must still be told what they answer for, with their 进展报送 code (once per item and
            # owner: the intake and the run both call this; an item assigned before and turned
            # 长期坚持 later still gets its codes, the key is not the assignment's).
            acting.queue_to_submitters(
                session,
                item,
                kind="assigned",
                day=day,
                key=f"ongoing:{code}:{item.owner_id}",
                step="progress",
            )
            return None
        if item.status is not Status.new:
            return None  # someone assigned it already (CLI): the ledger is the truth
        if not (secretary or "").strip():
            # Never pick a secretary on someone's behalf: the audit would name a person
            # who did nothing. The flow asks with the assignment form instead.
            return f"事项 {code} 未指定交办人（秘书），请秘书填写交办表单"
        actor = workflow.get_person(session, secretary.strip())
        owner_p = workflow.get_person(session, owner) if owner else item.owner
        if owner_p is None:
            return f"事项 {code} 在整改清单中没有责任人，请指定责任人"
        leader_p = workflow.get_person(session, leader) if leader else None
        assign_item(session, code, actor, day, owner=owner_p, leader=leader_p)
    except RectifyError as exc:
        return str(exc)
    return None


def request_assignment(db_url: str, code: str, day: date) -> None:
    """The assignment waits for a secretary's signature: each secretary's 待交办 email and code
    (once per item: the key is the item's and the secretary's)."""
    with transaction(db_url) as session:
        item = workflow.get_item(session, code)
        if item.status is Status.new:
            acting.queue_assign_requests(session, item, day)


PERSON_FIELD = {
    "intake": "secretary",  # 交办确认 (rectify.intake_confirm)
    "assign": "secretary",
    "submit": "submitter",
    "extend": "reviewer",
    "leader_review": "reviewer",
    "review": "reviewer",
    "progress": "reporter",
}


NOT_THIS_RUN = (
    "本流程运行不是台账为事项{code}登记的流程运行（{why}），表单未受理，验证码未使用，"
    "未作任何修改；请从邮件中的链接打开该事项的流程运行办理"
)


def linked_run_only(item: Item, run_id: str | None) -> None:
    """A form acts only through the run the ledger links to its item (items.flow_run_id).
    Anyone with the UI can start another run of the item deployment for the same item; a code
    read from the real run's stored input must not act there before the real run consumes it.
    Checked before the code is tried, so such a run neither spends nor counts a code."""
    if run_id is None or item.flow_run_id == run_id:
        return
    why = "该事项尚未登记流程运行" if item.flow_run_id is None else "该事项由另一个流程运行办理"
    raise Forbidden(NOT_THIS_RUN.format(code=item.code, why=why))


def apply_form(
    db_url: str, code: str, day: date, step: str, form: dict, attempt: str, run_id: str | None = None
) -> str | None:
    """A form filled in through the UI (or the REST resume call): the code proves the person
    named in it, then the step applies. None when applied, else the one line saying why not;
    a refusal changes nothing but a wrong guess's count (and, at the limit, a fresh code).
    `attempt` names this submission (run id and pause key), so a replay counts nothing;
    `run_id`: the run it came through, which must be the item's linked run."""
    person_field = PERSON_FIELD[step]
    proven = None
    try:
        with transaction(db_url) as session:
            codes.prove(session, codes.BY_CODE)
            item = workflow.get_item(session, code, lock=True)
            linked_run_only(item, run_id)
            actor = workflow.get_person(session, (form.get(person_field) or "").strip())
            codes.consume(session, actor, item, step, form.get("code"))
            proven = actor.name
            _apply_step(session, code, actor, day, step, form)
    except codes.WrongCode as exc:
        return wrong_code(db_url, exc, attempt, day)
    except RectifyError as exc:
        if proven is None:
            return str(exc)
        # the right code went with a refused form, stored where others may read it: burnt
        from rectify import input_guard

        with transaction(db_url) as session:
            input_guard.burn_refused_code(
                session,
                workflow.get_person(session, proven),
                workflow.get_item(session, code),
                step,
                day,
                attempt,
            )
        return f"{exc}；本次使用的验证码已作废，新的验证码已发送到{proven}的邮箱"
    return None


def _apply_step(session: Session, code: str, actor: Person, day: date, step: str, form: dict) -> None:
    if step == "assign":
        owner = workflow.get_person(session, form["owner"])
        leader = workflow.get_person(session, form["leader"]) if form.get("leader") else None
        assign_item(session, code, actor, day, owner=owner, leader=leader)
    elif step == "progress":
        pn = workflow.add_progress(
            session, code, actor, day, note=form.get("note") or "", percent=form.get("percent")
        )
        acting.queue_next_progress(session, workflow.get_item(session, code), actor, day, pn.id)
    elif step == "submit" and form.get("request") == EXTENSION_REQUEST:
        to = form.get("extend_to")
        if not form.get("measure") or not to:
            raise InvalidInput("申请延期须填写措施序号和申请延期至的日期")
        request_extension(
            session,
            code,
            actor,
            day,
            measure=int(form["measure"]),
            to=to if isinstance(to, date) else date.fromisoformat(to),
            reason=form.get("reason") or "",
        )
    elif step == "submit":
        submit_item(
            session,
            code,
            actor,
            day,
            summary=form.get("summary") or "",
            evidence=list(form.get("evidence") or []),
            completes=[int(n) for n in form.get("completes") or []],
        )
    elif step == "extend":
        pending = pending_extension(session, workflow.get_item(session, code))
        if pending is None:
            raise InvalidTransition(f"事项 {code} 已没有待审批的延期申请")
        decide_extension(
            session,
            code,
            actor,
            day,
            measure=pending.position + 1,
            approve=form["decision"] == extensions.APPROVE,
            comment=form.get("comment") or "",
        )
    else:
        if workflow.get_item(session, code).status is not (
            Status.leader_review if step == "leader_review" else Status.submitted
        ):
            raise InvalidTransition(f"事项 {code} 已不在{codes.STEP_LABELS[step]}阶段")
        recheck_on = form.get("recheck_on")
        review_item(
            session,
            code,
            actor,
            day,
            approve=form["decision"] == APPROVE,
            comment=form.get("comment") or "",
            recheck_on=date.fromisoformat(recheck_on)
            if isinstance(recheck_on, str) and recheck_on
            else recheck_on or None,
        )


def confirm_closed(db_url: str, code: str, day: date) -> None:
    """An item closed from the command line: notify owner and leader (idempotent on the key)."""
    with transaction(db_url) as session:
        item = workflow.get_item(session, code)
        if item.status is Status.closed:
            queue_closed(session, item, item.closed_on or day)


def link_run(session: Session, code: str, flow_run_id: str, *, replacing: str | None = None) -> bool:
    """Store the item's run id, only if it is still `replacing` (None: no run yet), so a second
    intake never overwrites the first run's id and a reopen replaces exactly the finished one."""
    current = Item.flow_run_id.is_(None) if replacing is None else Item.flow_run_id == replacing
    result = session.execute(
        update(Item)
        .where(Item.code == code, current)
        .values(flow_run_id=flow_run_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


REPAIR_ACTOR = "系统（补建流程运行）"


def relink_run(session: Session, code: str, old: str, new: str, day: date, why: str) -> bool:
    """An open item's run ended or vanished: link the new waiting run in its place and audit
    it, in one transaction. False (nothing written) when the item moved on meanwhile (closed,
    or another sweep already linked a run)."""
    item = workflow.get_item(session, code)
    if item.status is Status.closed or not link_run(session, code, new, replacing=old):
        return False
    workflow.record(
        session,
        item,
        REPAIR_ACTOR,
        day,
        "relink_run",
        item.status,
        item.status,
        comment=f"原流程运行{why}，已补建等待表单的流程运行",
        details={"old_run": old, "new_run": new},
    )
    session.flush()
    code_reissue.queue_relinked(session, item, day, new, why)  # the new link, and a fresh code
    return True


def wrong_code(db_url: str, exc: codes.WrongCode, attempt: str, day: date) -> str:
    """Count a wrong code's try in a transaction of its own (the refused step wrote nothing);
    the last allowed try voids it and mails a fresh one. The one line for the form's top."""
    with transaction(db_url) as session:
        voided, left = codes.count_wrong_try(session, exc.code_id, attempt)
        if voided:
            code_reissue.reissue_after_tries(session, exc.code_id, day)
    if left == 0:
        return f"{exc}；已连续输错{codes.MAX_WRONG_TRIES}次，该验证码作废，新的验证码已发送到本人邮箱"
    return f"{exc}（还可尝试{left}次）"
