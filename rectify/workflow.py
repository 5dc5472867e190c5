"""Every state change of an item: one function each, one table of allowed moves.

Each function takes a Session, checks the role rules and the transition table, changes the row
with a conditional UPDATE (so two writers cannot both win), and inserts the audit record.
It only flushes: the caller owns the transaction, so the change and its audit record commit
together or not at all.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import AuditRecord, Evidence, Item, Person, ProgressNote, Role, Status
from rectify.errors import ConcurrentChange, Forbidden, InvalidTransition, NotFound

SYSTEM = "系统"

# action -> {from: to}. The only place that says which moves exist.
TRANSITIONS: dict[str, dict[Status, Status]] = {
    "assign": {Status.new: Status.in_progress},
    "submit": {Status.in_progress: Status.submitted, Status.ongoing: Status.submitted},
    "approve": {Status.submitted: Status.closed},
    "reject": {Status.submitted: Status.in_progress},
    "reopen": {Status.closed: Status.in_progress},
    "mark_ongoing": {s: Status.ongoing for s in (Status.new, Status.in_progress, Status.submitted)},
}

ACTION_LABELS = {
    "import": "导入", "update": "台账更新", "assign": "交办", "reassign": "调整责任人",
    "progress": "记录进展", "submit": "申请销号", "approve": "审核通过（销号）",
    "reject": "退回", "reopen": "回头看（重新整改）", "mark_ongoing": "转为长期坚持",
}


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


def target_status(action: str, current: Status) -> Status:
    moves = TRANSITIONS[action]
    if current not in moves:
        allowed = "、".join(s.label for s in moves)
        raise InvalidTransition(
            f"事项当前状态为“{current.label}”，不能{ACTION_LABELS[action]}（仅限：{allowed}）"
        )
    return moves[current]


def record(session: Session, item: Item, actor: str, day: date, action: str,
           from_status: Status | None = None, to_status: Status | None = None,
           comment: str = "", details: dict | None = None) -> AuditRecord:
    rec = AuditRecord(
        item_id=item.id, actor=actor, day=day, action=action,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value if to_status else None,
        comment=comment, details=details,
    )
    session.add(rec)
    return rec


def _move(session: Session, item: Item, action: str, actor: str, day: date,
          comment: str = "", details: dict | None = None, **values) -> Status:
    """Change the status with an UPDATE guarded by the status we read; audit it."""
    before = item.status
    after = target_status(action, before)
    result = session.execute(
        update(Item)
        .where(Item.id == item.id, Item.status == before)
        .values(status=after, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ConcurrentChange(f"事项 {item.code} 刚被他人修改，请刷新后重试")
    session.refresh(item)
    record(session, item, actor, day, action, before, after, comment, details)
    session.flush()
    return after


def _require_role(person: Person, role: Role, what: str) -> None:
    if person.role is not role:
        raise Forbidden(f"{person.name}（{person.role.label}）无权{what}，仅{role.label}可以")


def _require_item_person(person: Person, item: Item, what: str) -> None:
    if person.id not in (item.owner_id, item.leader_id):
        raise Forbidden(f"{person.name} 不是事项 {item.code} 的责任人或责任领导，无权{what}")


def _require_text(text: str | None, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidTransition(f"{what}不能为空")
    return text


def assign(session: Session, code: str, actor: Person, day: date, *, owner: Person,
           leader: Person | None = None, department: str | None = None) -> Item:
    """Secretary hands the item to an owner (new -> in_progress), or changes the owner later."""
    _require_role(actor, Role.secretary, "交办事项")
    item = get_item(session, code, lock=True)
    leader = leader or item.leader
    if leader is None:
        raise InvalidTransition(f"事项 {item.code} 尚无责任领导，请用 --leader 指定")
    values = {"owner_id": owner.id, "leader_id": leader.id}
    if department is not None:
        values["department"] = department
    details = {"owner": owner.name, "leader": leader.name, "department": department or item.department}
    if item.status is Status.new:
        _move(session, item, "assign", actor.name, day, details=details, **values)
        return item
    if item.status is Status.closed:
        raise InvalidTransition(f"事项 {item.code} 已销号，不能调整责任人")
    session.execute(update(Item).where(Item.id == item.id).values(**values))
    session.refresh(item)
    record(session, item, actor.name, day, "reassign", item.status, item.status, details=details)
    session.flush()
    return item


def add_progress(session: Session, code: str, actor: Person, day: date, *, note: str,
                 percent: int | None = None) -> ProgressNote:
    item = get_item(session, code, lock=True)
    _require_item_person(actor, item, "记录进展")
    note = _require_text(note, "进展说明")
    if item.status not in (Status.in_progress, Status.ongoing):
        raise InvalidTransition(f"事项当前状态为“{item.status.label}”，不能记录进展")
    if percent is not None and not 0 <= percent <= 100:
        raise InvalidTransition("完成百分比应在 0 到 100 之间")
    pn = ProgressNote(item_id=item.id, author_id=actor.id, day=day, note=note, percent=percent)
    session.add(pn)
    item.last_progress_on = max(day, item.last_progress_on or day)
    record(session, item, actor.name, day, "progress", comment=note,
           details={"percent": percent} if percent is not None else None)
    session.flush()
    return pn


def submit(session: Session, code: str, actor: Person, day: date, *, summary: str,
           evidence: list[str] = ()) -> Item:
    """Owner (or leader) applies for closure with a summary and evidence."""
    item = get_item(session, code, lock=True)
    _require_item_person(actor, item, "申请销号")
    summary = _require_text(summary, "整改情况说明")
    refs = [e.strip() for e in evidence if e and e.strip()]
    _move(session, item, "submit", actor.name, day, summary, {"evidence": refs},
          submitted_by_id=actor.id, last_progress_on=day)
    for ref in refs:
        session.add(Evidence(item_id=item.id, ref=ref, submitted_by_id=actor.id, day=day))
    session.flush()
    return item


def _review_guard(item: Item, actor: Person, what: str) -> None:
    _require_role(actor, Role.secretary, what)
    if item.submitted_by_id == actor.id:
        raise Forbidden(f"{actor.name} 是本次销号申请的提交人，不能审核自己的申请")


def approve(session: Session, code: str, actor: Person, day: date, *, comment: str = "") -> Item:
    item = get_item(session, code, lock=True)
    target_status("approve", item.status)  # state first: "never submitted" is the clearer reason
    _review_guard(item, actor, "审核销号")
    _move(session, item, "approve", actor.name, day, comment.strip(), closed_on=day)
    return item


def reject(session: Session, code: str, actor: Person, day: date, *, comment: str) -> Item:
    item = get_item(session, code, lock=True)
    target_status("reject", item.status)
    _review_guard(item, actor, "退回销号申请")
    comment = _require_text(comment, "退回意见")
    _move(session, item, "reject", actor.name, day, comment, submitted_by_id=None)
    return item


def reopen(session: Session, code: str, actor: Person, day: date, *, reason: str) -> Item:
    """回头看: a closed item found not really fixed goes back to in_progress."""
    _require_role(actor, Role.secretary, "重新打开已销号事项")
    item = get_item(session, code, lock=True)
    reason = _require_text(reason, "回头看原因")
    _move(session, item, "reopen", actor.name, day, reason, closed_on=None, submitted_by_id=None)
    return item


def mark_ongoing(session: Session, code: str, actor: Person, day: date, *, comment: str = "") -> Item:
    _require_role(actor, Role.secretary, "将事项转为长期坚持")
    item = get_item(session, code, lock=True)
    _move(session, item, "mark_ongoing", actor.name, day, comment.strip(), submitted_by_id=None)
    return item
