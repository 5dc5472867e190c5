"""Every state change of an item: one function each, one table of allowed moves.

Each function takes a Session, checks the role rules and the transition table, changes the row
with a conditional UPDATE (so two writers cannot both win), and inserts the audit record.
It only flushes: the caller owns the transaction, so the change and its audit record commit
together or not at all. The checks it makes before writing (roles, text, business day) are
rectify.change_rules', shared with the modules that change an item's measures.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from models import AuditRecord, Evidence, Item, Person, ProgressNote, Role, Status
from models.status import ACTION_LABELS  # noqa: F401  (imported from here by callers)
from rectify.change_rules import (
    MAX_EVIDENCE,
    MAX_EVIDENCE_LENGTH,
    check_item_day,
    clean,
    require_item_person,
    require_role,
    require_text,
)
from rectify.errors import ConcurrentChange, Forbidden, InvalidInput, InvalidTransition, NotFound

SYSTEM = "系统"

# action -> {from: to}. The only place that says which moves exist: DOMAIN.md's diagram, where
# only 整改中 submits (a 长期坚持 item has no closure to apply for, and a rejection of one
# would otherwise land in 整改中, a move the diagram does not have). A submission goes to the
# leader's sign-off (签字背书) first; with RECTIFY_LEADER_SIGNOFF=false that stage is skipped
# (WITHOUT_SIGNOFF), as in offices with a single review.
TRANSITIONS: dict[str, dict[Status, Status]] = {
    "assign": {Status.new: Status.in_progress},
    "submit": {Status.in_progress: Status.leader_review},
    "signoff": {Status.leader_review: Status.submitted},
    "approve": {Status.submitted: Status.closed},
    "reject": {Status.leader_review: Status.in_progress, Status.submitted: Status.in_progress},
    "reopen": {Status.closed: Status.in_progress},
    "mark_ongoing": {
        s: Status.ongoing for s in (Status.new, Status.in_progress, Status.leader_review, Status.submitted)
    },
}
WITHOUT_SIGNOFF = {Status.leader_review: Status.submitted}


def get_item(session: Session, code: str, *, lock: bool = False) -> Item:
    stmt = select(Item).where(Item.code == code)
    if lock:
        # populate_existing: the row read under the lock wins over whatever this session loaded
        # earlier, so the checks below judge the current state (SQLAlchemy's documented pairing).
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    item = session.scalars(stmt).one_or_none()
    if item is None:
        raise NotFound(f"没有编号为“{code}”的整改事项")
    return item


def get_person(session: Session, name: str | None) -> Person:
    if not name:
        raise Forbidden("未指定操作人：请用 --as 姓名 或设置环境变量 RECTIFY_USER")
    person = session.scalars(select(Person).where(Person.name == name)).one_or_none()
    if person is None:
        raise NotFound(f"人员名单中没有“{name}”")
    return person


def leader_signoff_on() -> bool:
    from rectify.settings import get_settings

    return get_settings().leader_signoff


def target_status(action: str, current: Status) -> Status:
    moves = TRANSITIONS[action]
    if current not in moves:
        allowed = "、".join(s.label for s in moves)
        raise InvalidTransition(
            f"事项当前状态为“{current.label}”，不能{ACTION_LABELS[action]}（仅限：{allowed}）"
        )
    after = moves[current]
    return after if leader_signoff_on() else WITHOUT_SIGNOFF.get(after, after)


def record(
    session: Session,
    item: Item,
    actor: str,
    day: date,
    action: str,
    from_status: Status | None = None,
    to_status: Status | None = None,
    comment: str = "",
    details: dict | None = None,
) -> AuditRecord:
    # How the actor was proven is the transaction's (rectify.codes.prove): 邮件验证码 or 命令行
    # with the operating-system account; unset for the system's own records.
    proof, os_account = session.info.get("proof", (None, None))
    rec = AuditRecord(
        item_id=item.id,
        actor=actor,
        day=day,
        action=action,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value if to_status else None,
        comment=comment,
        details=details,
        proof=proof,
        os_account=os_account,
    )
    session.add(rec)
    return rec


def _move(
    session: Session,
    item: Item,
    action: str,
    actor: str,
    day: date,
    comment: str = "",
    details: dict | None = None,
    **values,
) -> Status:
    """Change the status with an UPDATE guarded by the status we read; audit it."""
    before = item.status
    after = target_status(action, before)
    check_item_day(session, item, day)
    _guarded_update(session, item, before, status=after, **values)
    record(session, item, actor, day, action, before, after, comment, details)
    session.flush()
    return after


def assign(
    session: Session,
    code: str,
    actor: Person,
    day: date,
    *,
    owner: Person,
    leader: Person | None = None,
    department: str | None = None,
) -> Item:
    """Secretary hands the item to an owner (new -> in_progress), or changes the owner later."""
    require_role(actor, Role.secretary, "交办事项")
    item = get_item(session, code, lock=True)
    leader = leader or item.leader
    if leader is None:
        raise InvalidTransition(f"事项 {item.code} 尚无责任领导，请用 --leader 指定")
    values = {"owner_id": owner.id, "leader_id": leader.id}
    if department is not None:
        department = clean(department, "责任部门", multiline=False)
        values["department"] = department
    details = {"owner": owner.name, "leader": leader.name, "department": department or item.department}
    if item.status is Status.new:
        _move(session, item, "assign", actor.name, day, details=details, **values)
        return item
    if item.status is Status.closed:
        raise InvalidTransition(f"事项 {item.code} 已销号，不能调整责任人")
    check_item_day(session, item, day)
    status = item.status
    _guarded_update(session, item, status, **values)
    record(session, item, actor.name, day, "reassign", status, status, details=details)
    session.flush()
    return item


def _guarded_update(session: Session, item: Item, read: Status, /, **values) -> None:
    """UPDATE only while the item is still in the status we judged (no FOR UPDATE on SQLite):
    a concurrent transition makes the row count 0, and nothing is written or audited."""
    result = session.execute(
        update(Item)
        .where(Item.id == item.id, Item.status == read)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ConcurrentChange(f"事项 {item.code} 刚被他人修改，请刷新后重试")
    session.refresh(item)


def add_progress(
    session: Session, code: str, actor: Person, day: date, *, note: str, percent: int | None = None
) -> ProgressNote:
    item = get_item(session, code, lock=True)
    require_item_person(actor, item, "记录进展")
    note = require_text(note, "进展说明")
    if item.status not in (Status.in_progress, Status.ongoing):
        raise InvalidTransition(f"事项当前状态为“{item.status.label}”，不能记录进展")
    if percent is not None and not 0 <= percent <= 100:
        raise InvalidTransition("完成百分比应在 0 到 100 之间")
    check_item_day(session, item, day)
    # The UPDATE first: it is the write that proves the status still holds.
    _guarded_update(
        session,
        item,
        item.status,
        last_progress_on=case((Item.last_progress_on > day, Item.last_progress_on), else_=day),
    )
    pn = ProgressNote(item_id=item.id, author_id=actor.id, day=day, note=note, percent=percent)
    session.add(pn)
    record(
        session,
        item,
        actor.name,
        day,
        "progress",
        comment=note,
        details={"percent": percent} if percent is not None else None,
    )
    session.flush()
    return pn


def submit(
    session: Session,
    code: str,
    actor: Person,
    day: date,
    *,
    summary: str,
    evidence: list[str] = (),
    completes: list[int] = (),
) -> Item:
    """Owner (or leader) applies for closure with a summary and evidence. Every dated measure
    must be done, or completed by this submission (`completes`: measure numbers, 1-based)."""
    from rectify import measures

    item = get_item(session, code, lock=True)
    require_item_person(actor, item, "申请销号")
    summary = require_text(summary, "整改情况说明")
    refs = [ref for ref in (clean(e, "佐证材料", multiline=False) for e in evidence) if ref]
    target_status("submit", item.status)
    if len(refs) > MAX_EVIDENCE or any(len(ref) > MAX_EVIDENCE_LENGTH for ref in refs):
        raise InvalidInput(
            f"佐证材料最多{MAX_EVIDENCE}条、每条最多{MAX_EVIDENCE_LENGTH}个字符"
            "（请填写文件路径或链接，而非材料全文）"
        )
    completing = {measures.get_measure(item, n).position + 1 for n in completes}
    if missing := measures.unfinished_dated(item, completing):
        raise InvalidTransition(
            "尚有整改措施未完成，不能申请销号："
            + "；".join(f"第{n}条“{m.text}”（时限 {m.deadline}）" for n, m in missing)
            + "。请先完成，或在本次申请中勾选本次完成的措施"
        )
    # The measures this submission completes are recorded by its own audit row ("completes"),
    # after the guarded UPDATE of the item that proves the status still holds.
    completing = {n for n in completing if item.measures[n - 1].done_on is None}
    _move(
        session,
        item,
        "submit",
        actor.name,
        day,
        summary,
        {"evidence": refs, **({"completes": sorted(completing)} if completing else {})},
        submitted_by_id=actor.id,
        last_progress_on=day,
    )
    for n in sorted(completing):
        measures.complete(session, item, item.measures[n - 1], actor, day, summary)
    for ref in refs:
        session.add(Evidence(item_id=item.id, ref=ref, submitted_by_id=actor.id, day=day))
    session.flush()
    return item


def _review_guard(session: Session, item: Item, actor: Person, what: str) -> None:
    """The stage decides who may act: at 待领导审核 the item's leader (another leader when the
    leader submitted it), at 待审核 a secretary. Never the submitter."""
    if item.status is not Status.leader_review:
        require_role(actor, Role.secretary, what)
    if item.submitted_by_id == actor.id:
        raise Forbidden(f"{actor.name} 是本次销号申请的提交人，不能审核自己的申请")
    if item.status is Status.leader_review and not (
        actor.id == item.leader_id or (item.submitted_by_id == item.leader_id and actor.role is Role.leader)
    ):
        leader = item.leader.name if item.leader else "责任领导"
        raise Forbidden(f"{actor.name} 不是事项 {item.code} 的责任领导，无权{what}（待{leader}审核）")


def signoff(session: Session, code: str, actor: Person, day: date, *, comment: str = "") -> Item:
    """The leader's sign-off (签字背书): 待领导审核 -> 待审核."""
    item = get_item(session, code, lock=True)
    target_status("signoff", item.status)
    _review_guard(session, item, actor, "签字背书")
    _move(session, item, "signoff", actor.name, day, clean(comment, "审核意见"))
    return item


def approve(
    session: Session,
    code: str,
    actor: Person,
    day: date,
    *,
    comment: str = "",
    recheck_on: date | None = None,
) -> Item:
    """销号, with its 复核日期 for 回头看 (rectify.periods.recheck_date: chosen or the default)."""
    from rectify.periods import recheck_date

    item = get_item(session, code, lock=True)
    target_status("approve", item.status)  # state first: "never submitted" is the clearer reason
    _review_guard(session, item, actor, "审核销号")
    recheck_on = recheck_date(day, recheck_on)
    _move(
        session,
        item,
        "approve",
        actor.name,
        day,
        clean(comment, "审核意见"),
        {"recheck_on": recheck_on.isoformat()},
        closed_on=day,
        recheck_on=recheck_on,
    )
    return item


def reject(session: Session, code: str, actor: Person, day: date, *, comment: str) -> Item:
    """退回 at either stage: back to 整改中, the comment is the 补充整改要求."""
    item = get_item(session, code, lock=True)
    target_status("reject", item.status)
    _review_guard(session, item, actor, "退回销号申请")
    comment = require_text(comment, "退回意见（补充整改要求）")
    _move(session, item, "reject", actor.name, day, comment, submitted_by_id=None)
    return item


def reopen(session: Session, code: str, actor: Person, day: date, *, reason: str) -> Item:
    """回头看: a closed item found not really fixed goes back to in_progress."""
    require_role(actor, Role.secretary, "重新打开已销号事项")
    item = get_item(session, code, lock=True)
    reason = require_text(reason, "回头看原因")
    _move(
        session,
        item,
        "reopen",
        actor.name,
        day,
        reason,
        closed_on=None,
        submitted_by_id=None,
        recheck_on=None,
    )
    return item


def mark_ongoing(session: Session, code: str, actor: Person, day: date, *, comment: str = "") -> Item:
    require_role(actor, Role.secretary, "将事项转为长期坚持")
    item = get_item(session, code, lock=True)
    _move(session, item, "mark_ongoing", actor.name, day, clean(comment, "说明"), submitted_by_id=None)
    return item


def touch(session: Session, item: Item) -> None:
    """Prove the item is still in the status we judged, without a transition (a change to one
    of its measures): the same guarded UPDATE, setting only updated_at."""
    from models.base import utcnow

    _guarded_update(session, item, item.status, updated_at=utcnow())


# The guarded UPDATE, for the modules that change an item's measures (rectify/measures.py,
# rectify/extensions.py).
guarded_update = _guarded_update
