"""The ledger side of the per-item flow run (no Prefect here).

The flow `rectification-item` (flows/item.py) waits for people's input and calls these
functions; each one opens its own transaction, reads the item from the ledger and applies at
most one transition through rectify.workflow, so the role rules are the same as on the command
line. Input the rules refuse comes back as a `Refused` reason instead of an exception: the flow
shows it in the next form and waits again.

Waits are keyed from the ledger, not from the run's memory: `round` is the number of closure
submissions the audit trail holds, so a run re-started from the top after a resume computes
the same keys and Prefect replays the inputs it already received.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import AuditRecord, Extension, Item, Person, Status
from models.db import session_factory
from rectify import extensions, workflow
from rectify.errors import RectifyError
from rectify.reminders import queue_notice

# Forms' option values are what a person reads in the UI; the CLI sends the same words.
APPROVE = "同意销号"
REJECT = "退回整改"
ITEM_DEPLOYMENT = "rectification-item/rectification-item"


@dataclass
class ItemView:
    """What the flow needs to decide its next step, read fresh from the ledger."""

    code: str
    title: str
    status: Status
    round: int  # closure submissions so far
    owner: str | None
    leader: str | None
    department: str
    category: str
    deadline: date | None
    submitter: str | None = None
    summary: str = ""
    evidence: list[str] = field(default_factory=list)
    last_reject_comment: str = ""
    measures: list[str] = field(default_factory=list)
    extension_requests: int = 0  # 申请延期 so far: each one moves the submission form's key on
    pending_extension: dict | None = None  # the one awaiting the secretary, if any
    light: str = ""  # 红灯/黄灯/绿灯 (— when closed)

    @property
    def tags(self) -> list[str]:
        return run_tags(self.category, self.department, self.leader)


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
    return {"code": item.code, "key": key, "name": run_name(item.code, item.description),
            "title": short_title(item.description),
            "tags": run_tags(item.category, item.department, item.leader.name if item.leader else None)}


def reopen_run_request(session: Session, code: str) -> tuple[dict, str | None]:
    """The run for a reopened item (回头看) and the id of the run it replaces.

    The key counts the reopens in the audit trail, so each reopen gets a run of its own while a
    retried start of the same reopen gets the same run back.
    """
    item = workflow.get_item(session, code)
    reopens = session.scalar(select(func.count()).select_from(AuditRecord).where(
        AuditRecord.item_id == item.id, AuditRecord.action == "reopen")) or 0
    key = f"{run_key(item.code, item.register_date)}#reopen-{reopens}"
    return run_request(item, key), item.flow_run_id


@contextmanager
def transaction(db_url: str) -> Iterator[Session]:
    with session_factory(db_url)() as session, session.begin():
        yield session


def read_item(session: Session, code: str) -> ItemView:
    item = workflow.get_item(session, code)
    audit = session.scalars(
        select(AuditRecord).where(AuditRecord.item_id == item.id,
                                  AuditRecord.action.in_(("submit", "reject")))
        .order_by(AuditRecord.id)
    ).all()
    submits = [a for a in audit if a.action == "submit"]
    rejects = [a for a in audit if a.action == "reject"]
    view = ItemView(
        code=item.code, title=short_title(item.description), status=item.status,
        round=len(submits), owner=item.owner.name if item.owner else None,
        leader=item.leader.name if item.leader else None, department=item.department,
        category=item.category, deadline=item.deadline,
    )
    # Lights as of the office's today (the form is read by people now, not on the run's day).
    from rectify.measures import LIGHT_LABELS, Lights, open_deadlines
    from rectify.settings import office_today

    lights = Lights(office_today())
    view.light = LIGHT_LABELS[lights.of(item.status, open_deadlines(session, [item.id]).get(item.id))]
    view.measures = [_measure_state(m, LIGHT_LABELS[lights.of(item.status, None if m.done_on else m.deadline)])
                     for m in item.measures]
    extensions = session.scalars(select(Extension).where(Extension.item_id == item.id)
                                 .order_by(Extension.id)).all()
    view.extension_requests = len(extensions)
    if pending := next((e for e in extensions if e.status == "pending"), None):
        asker = session.get(Person, pending.requested_by_id)
        view.pending_extension = {
            "id": pending.id, "measure": pending.position + 1, "text": pending.measure_text,
            "from": pending.old_deadline, "to": pending.new_deadline, "reason": pending.reason,
            "asker": asker.name if asker else "-"}
    if item.status is Status.submitted and submits:
        last = submits[-1]
        view.submitter, view.summary = last.actor, last.comment
        view.evidence = list((last.details or {}).get("evidence", []))
    if rejects and (not submits or rejects[-1].id > submits[-1].id):
        view.last_reject_comment = rejects[-1].comment
    return view


def _measure_state(m, light: str) -> str:
    state = f"已完成（{m.done_on}）" if m.done_on else "未完成"
    original = f"，原定时限 {m.original_deadline}" if m.original_deadline else ""
    return f"{m.text}（{m.deadline_text}{original}）{light} {state}"


def queue(session: Session, *, kind: str, item: Item, day: date, key: str,
          context: dict | None = None) -> bool:
    """Queue an email to the owner, copy to the leader, in the caller's transaction.

    Uses the outbox (rectify.reminders.queue_notice, idempotent on key). Returns False when
    the item has no owner to tell.
    """
    if item.owner is None:
        return False
    cc = [item.leader] if item.leader and item.leader.id != item.owner.id else []
    queue_notice(session, kind=kind, to=item.owner, cc=cc, items=[item], day=day, key=key,
                 context=context)
    return True


# --- transitions with their notices, in one transaction (the flow and the CLI both use these) --

def assign_item(session: Session, code: str, actor: Person, day: date, *, owner: Person,
                leader: Person | None = None, department: str | None = None) -> Item:
    """交办 (or a change of owner) and the email to the owner, copy to the leader."""
    item = workflow.assign(session, code, actor, day, owner=owner, leader=leader,
                           department=department)
    queue(session, kind="assigned", item=item, day=day, key=f"assigned:{code}:{owner.id}")
    return item


def review_item(session: Session, code: str, actor: Person, day: date, *, approve: bool,
                comment: str, recheck_on: date | None = None) -> Item:
    """The secretary's decision and its email (销号 or 退回) to the owner, copy to the leader.
    An approval sets the 复核日期 (回头看): `recheck_on`, or the default months later."""
    if approve:
        item = workflow.approve(session, code, actor, day, comment=comment, recheck_on=recheck_on)
        queue_closed(session, item, day)
    else:
        item = workflow.reject(session, code, actor, day, comment=comment)
        queue(session, kind="rejected", item=item, day=day,
              key=f"rejected:{code}:{_round(session, item)}",
              context={"reviewer": actor.name, "comment": comment.strip()})
    return item


def assign_from_register(db_url: str, code: str, day: date, secretary: str | None,
                         owner: str | None = None, leader: str | None = None) -> str | None:
    """交办 to the owner and leader the register names (or the form gives).

    Returns None when done (or already done), else the reason it was refused.
    """
    try:
        with transaction(db_url) as session:
            return assign_in_session(session, code, day, secretary, owner, leader)
    except RectifyError as exc:
        return str(exc)


def assign_in_session(session: Session, code: str, day: date, secretary: str | None,
                      owner: str | None = None, leader: str | None = None) -> str | None:
    """The same in the caller's transaction (the intake signs a whole register in one).

    Every refusal is decided before anything is written (role, names, leader, state; the
    guarded UPDATE writes nothing when its row count is 0), so a caller may catch the refusal
    and go on with the next item in the same transaction.
    """
    try:
        item = workflow.get_item(session, code, lock=True)
        if item.status is Status.ongoing and item.owner is not None:
            # 长期坚持 from the register: no state to move, but the owner must still be told
            # what they are responsible for (idempotent on the same key as an assignment).
            queue(session, kind="assigned", item=item, day=day,
                  key=f"assigned:{code}:{item.owner_id}")
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


def apply_submission(db_url: str, code: str, day: date, *, submitter: str, summary: str,
                     evidence: list[str], completes: list[int] = ()) -> str | None:
    """The owner's (or leader's) closure submission; None when applied, else why not."""
    try:
        with transaction(db_url) as session:
            actor = workflow.get_person(session, submitter.strip())
            workflow.submit(session, code, actor, day, summary=summary, evidence=evidence,
                            completes=list(completes))
    except RectifyError as exc:
        return str(exc)
    return None


def _calendar():
    from rectify.settings import get_settings
    from rectify.workdays import get_calendar

    return get_calendar(get_settings().calendar_override)


def apply_extension_request(db_url: str, code: str, day: date, *, submitter: str,
                            measure: int | None, to: date | None, reason: str) -> str | None:
    """申请延期 from the submission form; None when recorded, else why not."""
    if not measure or to is None:
        return "申请延期须填写措施序号和申请延期至的日期"
    try:
        with transaction(db_url) as session:
            actor = workflow.get_person(session, submitter.strip())
            extensions.request(session, code, measure, actor, day, to=to, reason=reason,
                               calendar=_calendar())
    except RectifyError as exc:
        return str(exc)
    return None


def apply_extension_review(db_url: str, code: str, day: date, *, measure: int, reviewer: str,
                           decision: str, comment: str) -> str | None:
    """The secretary's decision on the pending extension; None when applied, else why not."""
    try:
        with transaction(db_url) as session:
            actor = workflow.get_person(session, reviewer.strip())
            extensions.decide(session, code, measure, actor, day,
                              approve=decision == extensions.APPROVE, comment=comment,
                              calendar=_calendar())
    except RectifyError as exc:
        return str(exc)
    return None


def apply_review(db_url: str, code: str, day: date, *, reviewer: str, decision: str,
                 comment: str, recheck_on: date | None = None) -> str | None:
    """The secretary's decision; None when applied, else why not (self-approval, role, state,
    a 复核日期 not after the day)."""
    try:
        with transaction(db_url) as session:
            actor = workflow.get_person(session, reviewer.strip())
            review_item(session, code, actor, day, approve=decision == APPROVE, comment=comment,
                        recheck_on=recheck_on)
    except RectifyError as exc:
        return str(exc)
    return None


def _round(session: Session, item: Item) -> int:
    return session.scalar(select(func.count()).select_from(AuditRecord).where(
        AuditRecord.item_id == item.id, AuditRecord.action == "submit")) or 0


def queue_closed(session: Session, item: Item, day: date) -> bool:
    """Tell owner and leader who closed the item, from the approval's own audit record."""
    approval = session.scalars(
        select(AuditRecord).where(AuditRecord.item_id == item.id, AuditRecord.action == "approve")
        .order_by(AuditRecord.id.desc()).limit(1)
    ).first()
    context = {"reviewer": approval.actor if approval else "",
               "comment": approval.comment if approval else ""}
    return queue(session, kind="closed", item=item, day=day,
                 key=f"closed:{item.code}:{_round(session, item)}", context=context)


def confirm_closed(db_url: str, code: str, day: date) -> None:
    """An item closed from the command line: notify owner and leader (idempotent on the key)."""
    with transaction(db_url) as session:
        item = workflow.get_item(session, code)
        if item.status is Status.closed:
            queue_closed(session, item, item.closed_on or day)


def link_run(session: Session, code: str, flow_run_id: str, *, replacing: str | None = None) -> bool:
    """Store the item's run id, only if it is still `replacing` (None: no run yet), so a second
    intake never overwrites the first run's id and a reopen replaces exactly the finished one."""
    current = (Item.flow_run_id.is_(None) if replacing is None else Item.flow_run_id == replacing)
    result = session.execute(
        update(Item).where(Item.code == code, current)
        .values(flow_run_id=flow_run_id).execution_options(synchronize_session=False)
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
    workflow.record(session, item, REPAIR_ACTOR, day, "relink_run", item.status, item.status,
                    comment=f"原流程运行{why}，已补建等待表单的流程运行",
                    details={"old_run": old, "new_run": new})
    session.flush()
    return True


# --- the words people read in the forms' descriptions --------------------------------------
# The Prefect UI renders these as Markdown: everything that came from a register or a person
# goes through the report's md_escape, so a description cannot add links or images, or break
# the layout. Only the fixed wording around it is Markdown.

def _md(value: object) -> str:
    from rectify.report.render import md_escape  # lazy: the CLI imports this module too

    return md_escape(value)


def describe_item(v: ItemView) -> str:
    lines = [f"**{_md(v.code)} {_md(v.title)}**", "",
             f"责任领导：{_md(v.leader or '-')}　责任部门：{_md(v.department or '-')}"
             f"　责任人：{_md(v.owner or '-')}",
             f"整改时限：{v.deadline or '长期坚持'}　当前状态：{v.status.label}　亮灯：{v.light or '—'}"]
    if v.measures:
        lines += ["", "整改措施："] + [f"{i}. {_md(m)}" for i, m in enumerate(v.measures, 1)]
    return "\n".join(lines)


def describe_assign(v: ItemView, refusal: str = "") -> str:
    head = ("整改清单写明的责任人和责任领导已预填，请秘书确认（或修改）并填写交办人姓名后交办。"
            if v.owner else "请秘书指定责任人和责任领导后交办。")
    return _with_refusal(f"{head}\n\n{describe_item(v)}", refusal)


def describe_submission(v: ItemView, refusal: str = "") -> str:
    text = ("请责任人（或责任领导）填写销号申请：整改情况说明、佐证材料、本次完成的措施序号和提交人姓名；"
            "有时限的措施须全部完成（或在本次申请中完成）。如需延期，请在“申请事项”中选择“申请延期”，"
            "并填写措施序号、申请延期至和延期理由，由秘书审批。\n\n" + describe_item(v))
    if v.last_reject_comment:
        text += f"\n\n> 上次销号申请已被退回，审核意见：{_md(v.last_reject_comment)}"
    return _with_refusal(text, refusal)


def describe_extension(v: ItemView, refusal: str = "") -> str:
    e = v.pending_extension
    text = (f"请秘书审批延期申请（批准延期或不予延期），申请人不能审批自己的申请。\n\n{describe_item(v)}\n\n"
            f"申请人：{_md(e['asker'])}\n\n第{e['measure']}条措施：{_md(e['text'])}\n\n"
            f"原时限：{e['from']}　申请延期至：{e['to']}\n\n延期理由：{_md(e['reason'])}")
    return _with_refusal(text, refusal)


def describe_review(v: ItemView, refusal: str = "") -> str:
    evidence = "；".join(_md(e) for e in v.evidence) if v.evidence else "（未附）"
    text = (f"请秘书审核销号申请（同意销号或退回整改），提交人不能审核自己的申请。\n\n"
            f"{describe_item(v)}\n\n"
            f"提交人：{_md(v.submitter or '-')}\n\n整改情况说明：{_md(v.summary or '-')}"
            f"\n\n佐证材料：{evidence}")
    return _with_refusal(text, refusal)


def _with_refusal(text: str, refusal: str) -> str:
    return f"**上次提交未被受理：{_md(refusal)}**\n\n{text}" if refusal else text
