"""Register import, second half: check the parsed rows against the ledger and apply them, all
or nothing.

rectify.register_parse reads the files and collects every problem (row, column, value) before
the database is touched. Here the names are checked against the ledger's people and the
acting person's right to import is checked (both rectify.import_checks'), and only a clean
file is applied, in the caller's single transaction: people upserted on the name, items
upserted on the code, every created or changed item audited. Callers (the CLI,
flows/intake.py, the benches) use import_register.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from models import AuditRecord, Item, Measure, Person, ProgressNote, Role, Status
from rectify.deadlines import Deadline, DeadlineError, parse_deadline
from rectify.errors import ConcurrentChange, ImportRejected
from rectify.import_checks import check_actor, check_references, check_unproven
from rectify.register_parse import parse_files
from rectify.register_rows import ItemRow, MeasureRow, ParsedRegister, PersonRow, Problem
from rectify.reimport import merge, register_values, report_conflicts
from rectify.workdays import WorkCalendar
from rectify.workflow import SYSTEM, record

__all__ = ["ImportRejected", "ImportResult", "ParsedRegister", "Problem", "import_register", "parse_files"]

# Changes a person should notice (people's roles and addresses, skipped sheets) are said on the
# "rectify" logger, which the command line prints as 提示 lines, as well as in the result.
logger = logging.getLogger("rectify.importer")


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    people_created: list[str] = field(default_factory=list)
    people_updated: list[str] = field(default_factory=list)
    # name -> {field: [old, new]} for people already in the ledger (role as its Chinese label)
    people_changes: dict[str, dict[str, list]] = field(default_factory=dict)
    skipped_sheets: list[str] = field(default_factory=list)
    # owner/leader/department changed both in the register and by `rectify assign`: the
    # ledger's value was kept (rectify.reimport)
    conflicts: list[dict] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def import_register(
    session: Session,
    paths: list[Path],
    *,
    day: date,
    calendar: WorkCalendar,
    immediate_days: int = 5,
    actor: str | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    unproven: bool = False,
) -> ImportResult:
    """Validate every row, then apply everything in the session's transaction (flush only).

    With dry_run the caller rolls back; the result says what would have changed. `unproven`:
    nobody proved who imports (the intake deployment): audited as the system, and refused when
    it would change people (check_unproven) instead of needing a secretary's name.
    """
    parsed, problems = parse_files(paths, day, calendar, immediate_days)
    known = check_references(session, parsed, problems)
    if problems:
        raise ImportRejected(problems)
    if unproven:
        check_unproven(known, parsed)
        actor = None
    else:
        check_actor(actor, known, parsed)
    result = ImportResult(dry_run=dry_run, skipped_sheets=parsed.skipped_sheets)
    for name in parsed.skipped_sheets:
        logger.warning("已跳过隐藏的工作表 %s（隐藏的内容不导入；如需导入请先取消隐藏）", name)
    people = _apply_people(session, parsed.people, known, result)
    _apply_items(
        session, parsed.items, people, day, actor or SYSTEM, result, progress, calendar, immediate_days
    )
    session.flush()
    return result


def _apply_people(
    session: Session, rows: list[PersonRow], known: dict[str, Person], result: ImportResult
) -> dict[str, Person]:
    for row in rows:
        person = known.get(row.name)
        values = dict(title=row.title, department=row.department, email=row.email, role=row.role)
        if person is None:
            person = Person(name=row.name, **values)
            session.add(person)
            known[row.name] = person
            result.people_created.append(row.name)
        elif changes := {
            k: [_json(getattr(person, k)), _json(v)] for k, v in values.items() if getattr(person, k) != v
        }:
            for k, v in values.items():
                setattr(person, k, v)
            result.people_updated.append(row.name)
            result.people_changes[row.name] = changes
            # A role or an address decides who may approve and where notices go: say it.
            for k, label in (("role", "角色"), ("email", "邮箱")):
                if k in changes:
                    logger.warning("人员“%s”的%s由“%s”改为“%s”", row.name, label, *changes[k])
    session.flush()
    return known


def _item_values(row: ItemRow, people: dict[str, Person]) -> dict:
    remark = row.remark
    if row.co_owners:
        extra = "协办：" + "、".join(row.co_owners)
        remark = f"{remark}；{extra}" if remark and extra not in remark else (remark or extra)
    return dict(
        source=row.source,
        category=row.category,
        description=row.description,
        department=row.department,
        remark=remark,
        deadline=row.deadline,
        leader_id=people[row.leader].id if row.leader else None,
        owner_id=people[row.owner].id if row.owner else None,
        reporting=row.reporting,
    )


def _measure_values(row: ItemRow) -> list[tuple[str, date | None, str]]:
    return [(m.text, m.deadline.due, m.deadline.text) for m in row.measures]


def _with_extensions(
    new: list[tuple[str, date | None, str]], old: list[Measure]
) -> list[tuple[str, date | None, str]]:
    """The register's measures with approved extensions applied: a measure (same text) that was
    extended keeps its new deadline while the register shows its 原定时限 or that new date (the
    register exported after the extension)."""
    extended = {m.text: m for m in old if m.original_deadline is not None}
    return [
        (t, extended[t].deadline, extended[t].deadline_text)
        if t in extended and d in (extended[t].original_deadline, extended[t].deadline)
        else (t, d, dt)
        for t, d, dt in new
    ]


def _kept_state(m: Measure) -> dict:
    return {
        "done_on": m.done_on,
        "done_by_id": m.done_by_id,
        "done_note": m.done_note,
        "original_deadline": m.original_deadline,
        "deadline": m.deadline,
    }


def _carry(kept: dict | None, due: date | None) -> dict:
    """What a measure keeps when a re-import replaces the rows: its done state, and its 原定时限
    while the extended deadline stands (see _with_extensions)."""
    if kept is None:
        return {}
    state = {k: kept[k] for k in ("done_on", "done_by_id", "done_note")}
    if kept["original_deadline"] is not None and kept["deadline"] == due:
        state["original_deadline"] = kept["original_deadline"]
    return state


def _rebase(row: ItemRow, register_date: date, calendar: WorkCalendar, immediate_days: int) -> None:
    """Relative phrases (N个工作日内, 立行立改, 12月底前) count from the item's own register date.

    Re-importing the same register weeks later must not move its deadlines: the phrases were
    parsed against the import day, so parse them again against the day the item was registered.
    """

    def again(m: MeasureRow) -> Deadline:
        try:
            return parse_deadline(m.deadline.text, register_date, calendar, immediate_days)
        except DeadlineError:  # a date that was valid for today but is far from an old register
            return m.deadline

    row.measures = [
        MeasureRow(m.text, m.deadline if m.deadline.ongoing else again(m), m.done) for m in row.measures
    ]


def _apply_items(
    session: Session,
    rows: list[ItemRow],
    people: dict[str, Person],
    day: date,
    actor: str,
    result: ImportResult,
    progress,
    calendar: WorkCalendar,
    immediate_days: int,
) -> None:
    codes = [r.code for r in rows]
    existing: dict[str, Item] = {}
    for chunk in range(0, len(codes), 500):  # stay under SQLite's bound-parameter limit
        stmt = (
            select(Item).where(Item.code.in_(codes[chunk : chunk + 500])).options(selectinload(Item.measures))
        )
        existing.update({i.code: i for i in session.scalars(stmt)})
    names = {p.id: n for n, p in people.items()}
    fresh: list[tuple[Item, ItemRow]] = []
    for n, row in enumerate(rows, 1):
        item = existing.get(row.code)
        if item is not None and item.register_date != day:
            _rebase(row, item.register_date, calendar, immediate_days)
        values = _item_values(row, people)
        if item is None:
            ongoing = all(m.deadline.ongoing for m in row.measures)
            item = Item(
                code=row.code,
                status=Status.ongoing if ongoing else Status.new,
                register_date=day,
                deadline_changed_on=day,
                last_progress_on=day if row.progress else None,
                imported=register_values(values),
                **values,
            )
            item.measures = [
                Measure(
                    position=i,
                    text=t,
                    deadline=d,
                    deadline_text=dt,
                    done_on=day if m.done else None,
                    done_note=m.done or "",
                )
                for i, ((t, d, dt), m) in enumerate(zip(_measure_values(row), row.measures))
            ]
            session.add(item)
            fresh.append((item, row))
        else:
            _update_item(session, item, row, values, names, day, actor, result)
        if progress and (n % 200 == 0 or n == len(rows)):
            progress(n, len(rows))
    session.flush()  # one batched INSERT for every new item, then their audit records
    for item, row in fresh:
        record(
            session,
            item,
            actor,
            day,
            "import",
            None,
            item.status,
            details={"row": row.row, "deadline": str(item.deadline) if item.deadline else None},
        )
        if row.progress:
            session.add(ProgressNote(item_id=item.id, day=day, note=row.progress))
        result.created.append(item.code)


def _update_item(
    session: Session,
    item: Item,
    row: ItemRow,
    values: dict,
    names: dict[int, str],
    day: date,
    actor: str,
    result: ImportResult,
) -> None:
    new_measures = _with_extensions(_measure_values(row), item.measures)
    values["deadline"] = max((d for _, d, _ in new_measures if d), default=None)
    base = register_values(values)
    conflicts = merge(item, values, names)  # the three-way re-import of owner/leader/department
    if item.imported != base:
        item.imported = base
    if conflicts:
        report_conflicts(session, item, conflicts, actor, day, row.row)
        result.conflicts += [{"code": item.code, **c} for c in conflicts]
    changes = {}
    for key, new in values.items():
        old = getattr(item, key)
        if old != new:
            show = (lambda v: names.get(v, v)) if key.endswith("_id") else (lambda v: v)
            changes[key.removesuffix("_id")] = [_json(show(old)), _json(show(new))]
    old_measures = [(m.text, m.deadline, m.deadline_text) for m in item.measures]
    # Changed means another text or another due date: "10个工作日内" exported back as the date it
    # meant is the same deadline, and must not restart the reminder ladder.
    if [(t, d) for t, d, _ in new_measures] != [(t, d) for t, d, _ in old_measures]:
        changes["measures"] = [
            [f"{t}（{dt}）" for t, _, dt in old_measures],
            [f"{t}（{dt}）" for t, _, dt in new_measures],
        ]
        kept = {m.text: _kept_state(m) for m in item.measures}
        # Delete the old rows first: the unit of work would insert before deleting and trip
        # the (item, position) unique constraint.
        item.measures.clear()
        session.flush()
        item.measures = [
            Measure(position=i, text=t, **{"deadline": d, "deadline_text": dt, **_carry(kept.get(t), d)})
            for i, (t, d, dt) in enumerate(new_measures)
        ]
    if done := [
        (n, m, r.done)
        for n, (m, r) in enumerate(zip(item.measures, row.measures), 1)
        if r.done and m.done_on is None
    ]:
        for _, m, note in done:
            m.done_on, m.done_note = day, note
        changes["done"] = [n for n, _, _ in done]
    # A text that is already one of the item's notes is not news: the export (附件2) writes the
    # latest note, whoever wrote it, and the office may send an older sheet back.
    notes = [n.note for n in item.progress_notes]
    old_progress = notes[-1] if row.progress and notes else None
    if row.progress and row.progress not in notes:
        session.add(ProgressNote(item_id=item.id, day=day, note=row.progress))
        item.last_progress_on = day
        changes["progress"] = [old_progress, row.progress]
    before, after = item.status, _status_for(session, item, row)
    if after is not before:
        changes["status"] = [before.value, after.value]
    if not changes:
        result.unchanged.append(item.code)
        return
    for key, new in values.items():
        setattr(item, key, new)
    if "deadline" in changes or "measures" in changes:
        item.deadline_changed_on = day  # a new deadline restarts the reminder ladder
    session.flush()  # the measure list replacement must hit the table before the audit row
    if after is not before:
        _set_status(session, item, before, after)
    record(session, item, actor, day, "update", before, after, details={"row": row.row, "changes": changes})
    result.updated.append(item.code)


def _status_for(session: Session, item: Item, row: ItemRow) -> Status:
    """The status the re-imported measures imply. 长期坚持 follows the measures both ways: an
    ongoing item that gets a dated measure can be overdue again, so it goes back to work (待交办
    if it was never assigned); an open item whose every measure is 长期坚持 becomes ongoing.
    Submitted and closed items are left to the review."""
    ongoing = all(m.deadline.ongoing for m in row.measures)
    if item.status is Status.ongoing and not ongoing:
        assigned = session.scalar(
            select(AuditRecord.id)
            .where(AuditRecord.item_id == item.id, AuditRecord.action.in_(("assign", "reassign")))
            .limit(1)
        )
        return Status.in_progress if assigned is not None else Status.new
    if item.status in (Status.new, Status.in_progress) and ongoing:
        return Status.ongoing
    return item.status


def _set_status(session: Session, item: Item, before: Status, after: Status) -> None:
    """Guarded like workflow's moves: a flow run that changed the item meanwhile wins."""
    done = session.execute(
        update(Item)
        .where(Item.id == item.id, Item.status == before)
        .values(status=after)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise ConcurrentChange(f"事项 {item.code} 刚被他人修改，请稍后重新导入")
    session.refresh(item, ["status"])


def _json(value):
    if isinstance(value, Role):
        return value.label
    return value.isoformat() if isinstance(value, date) else value
