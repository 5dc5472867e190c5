"""Register import: all or nothing.

Parsing and validation happen before the database is touched and collect every problem
(row, column, value). Only a clean file is applied, in the caller's single transaction: people
upserted on the name, items upserted on the code, every created or changed item audited.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models import Item, Measure, Person, ProgressNote, Role, Status
from models.status import parse_role
from rectify.deadlines import Deadline, DeadlineError, parse_deadline
from rectify.errors import Forbidden, ImportRejected
from rectify.sheets import Sheet, read_sheets
from rectify.workdays import WorkCalendar
from rectify.workflow import SYSTEM, record

# Header words offices use -> field name. Matching ignores spaces and case.
REGISTER_HEADERS = {
    "code": ["序号", "编号", "问题编号", "问题序号", "code", "no", "no.", "id"],
    "source": ["问题来源", "来源", "source"],
    "category": ["问题类别", "类别", "问题类型", "类型", "category"],
    "description": ["问题描述", "存在问题", "问题表现", "问题", "description", "problem"],
    "measure": ["整改措施", "措施", "整改举措", "measure", "measures"],
    "leader": ["责任领导", "分管领导", "牵头领导", "leader"],
    "department": ["责任部门", "责任单位", "牵头部门", "department"],
    "owner": ["责任人", "具体责任人", "经办人", "owner"],
    "deadline": ["整改时限", "完成时限", "时限", "整改期限", "deadline"],
    "progress": ["整改进展", "进展情况", "进展", "progress"],
    "remark": ["备注", "remark", "remarks", "note", "notes"],
}
PEOPLE_HEADERS = {
    "name": ["姓名", "name"],
    "title": ["职务", "职位", "title"],
    "department": ["部门", "所在部门", "单位", "department"],
    "email": ["邮箱", "电子邮箱", "邮件", "email", "e-mail"],
    "role": ["角色", "role"],
}
COLUMN_LABELS = {f: words[0] for f, words in (REGISTER_HEADERS | PEOPLE_HEADERS).items()}
COLUMN_LABELS.update(name="姓名", department="部门")

EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+\-']+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")
# Control characters are never legitimate in a name, title, address or short field (they would
# end up in email headers); multi-line text fields may keep line breaks and tabs.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
TEXT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
NAME_SPLIT_RE = re.compile(r"[、，,；;/\s]+")
SHORT_FIELDS = ("code", "source", "category", "leader", "department", "owner")


@dataclass
class Problem:
    source: str
    row: int | None
    column: str | None
    value: object
    message: str

    def __str__(self) -> str:
        where = self.source + (f" 第{self.row}行" if self.row else "")
        if self.column:
            where += f" {self.column}"
        shown = f"“{_show(self.value)}”" if self.value not in (None, "") else ""
        return f"{where}{shown}：{self.message}"


@dataclass
class PersonRow:
    row: int
    name: str
    title: str
    department: str
    email: str
    role: Role
    origin: str = "人员名单"  # the file (and sheet) it came from, for problem messages


@dataclass
class MeasureRow:
    text: str
    deadline: Deadline


@dataclass
class ItemRow:
    row: int
    code: str
    source: str = ""
    category: str = ""
    description: str = ""
    department: str = ""
    leader: str = ""
    owner: str = ""
    co_owners: list[str] = field(default_factory=list)
    progress: str = ""
    remark: str = ""
    measures: list[MeasureRow] = field(default_factory=list)
    origin: str = "整改清单"  # the file (and sheet) it came from, for problem messages

    @property
    def deadline(self) -> date | None:
        dues = [m.deadline.due for m in self.measures if m.deadline.due]
        return max(dues) if dues else None


@dataclass
class ParsedRegister:
    people: list[PersonRow] = field(default_factory=list)
    items: list[ItemRow] = field(default_factory=list)


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    people_created: list[str] = field(default_factory=list)
    people_updated: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def _show(value: object) -> str:
    return repr(value)[1:-1] if isinstance(value, str) else str(value)


def _norm_header(cell: object) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(cell or ""))).lower()


def _header_map(cells: list, words: dict[str, list[str]]) -> dict[str, int]:
    lookup = {_norm_header(w): f for f, ws in words.items() for w in ws}
    found: dict[str, int] = {}
    for i, cell in enumerate(cells):
        f = lookup.get(_norm_header(cell))
        if f and f not in found:
            found[f] = i
    return found


def _find_header(sheet: Sheet) -> tuple[str, int, dict[str, int]] | None:
    """The header row is the first of the top rows that names enough known columns."""
    for idx, (_, cells) in enumerate(sheet.rows[:15]):
        reg = _header_map(cells, REGISTER_HEADERS)
        if "description" in reg and len(reg) >= 3:
            return "register", idx, reg
        ppl = _header_map(cells, PEOPLE_HEADERS)
        if {"name", "email"} <= ppl.keys():
            return "people", idx, ppl
    return None


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = value.date()
    return str(value).strip()


def parse_files(paths: list[Path], register_date: date, calendar: WorkCalendar,
                immediate_days: int) -> tuple[ParsedRegister, list[Problem]]:
    parsed, problems = ParsedRegister(), []
    for path in paths:
        sheets = read_sheets(path)
        for sheet in sheets:
            found = _find_header(sheet)
            if found is None:
                # Extra sheets (notes, instructions) are fine; a lone sheet without a header is not.
                if len(sheets) == 1:
                    problems.append(Problem(sheet.source, None, None, None,
                                            "找不到表头（应包含 序号、问题描述、整改措施、整改时限 等列）"))
                continue
            kind, idx, cols = found
            rows = sheet.rows[idx + 1:]
            if kind == "people":
                _parse_people(sheet.source, rows, cols, parsed, problems)
            else:
                _parse_register(sheet.source, rows, cols, parsed, problems,
                                register_date, calendar, immediate_days)
    if not parsed.items and not parsed.people and not problems:
        problems.append(Problem(", ".join(p.name for p in paths), None, None, None,
                                "没有找到整改清单或人员名单"))
    _check_duplicates(parsed, problems)
    return parsed, problems


def _parse_people(source: str, rows, cols, parsed: ParsedRegister, problems: list[Problem]) -> None:
    for rownum, cells in rows:
        get = lambda f: _cell_text(cells[cols[f]]) if f in cols and cols[f] < len(cells) else ""  # noqa: E731
        values = {f: get(f) for f in PEOPLE_HEADERS}
        if not any(values.values()):
            continue
        bad = False
        for f in PEOPLE_HEADERS:
            if CONTROL_RE.search(values[f]):
                problems.append(Problem(source, rownum, COLUMN_LABELS[f], values[f], "含有控制字符（如换行符）"))
                bad = True
        if not values["name"]:
            problems.append(Problem(source, rownum, "姓名", "", "姓名为空"))
            bad = True
        if not EMAIL_RE.match(values["email"]) and not CONTROL_RE.search(values["email"]):
            problems.append(Problem(source, rownum, "邮箱", values["email"], "邮箱地址格式不正确"))
            bad = True
        role = parse_role(values["role"])
        if role is None:
            problems.append(Problem(source, rownum, "角色", values["role"],
                                    "未知的角色（可填 责任人、责任领导/分管领导、秘书/督查，或 owner、leader、secretary）"))
            bad = True
        if not bad:
            parsed.people.append(PersonRow(rownum, values["name"], values["title"],
                                           values["department"], values["email"], role, source))


def _parse_register(source: str, rows, cols, parsed: ParsedRegister, problems: list[Problem],
                    register_date: date, calendar: WorkCalendar, immediate_days: int) -> None:
    current: ItemRow | None = None
    for rownum, cells in rows:
        raw = {f: (cells[i] if i < len(cells) else None) for f, i in cols.items()}
        text = {f: _cell_text(v) for f, v in raw.items()}
        if not any(text.values()):
            continue
        for f, v in text.items():
            pattern = CONTROL_RE if f in SHORT_FIELDS else TEXT_CONTROL_RE
            if pattern.search(v):
                problems.append(Problem(source, rownum, COLUMN_LABELS[f], v, "含有控制字符"))
        code = text.get("code", "")
        # A measure row of the same problem: merged cells repeat the code (and the description),
        # unmerged ones leave the problem's columns empty. The same code with a different
        # description is a second problem with a copy-pasted code, not a continuation.
        description = text.get("description", "")
        continuation = current is not None and (
            (code == current.code and description in ("", current.description))
            or (not code and not description)
        )
        if not continuation:
            if not code:
                problems.append(Problem(source, rownum, "序号", "", "序号为空"))
                current = None
                continue
            current = ItemRow(rownum, code, origin=source)
            for f in ("source", "category", "description", "department", "leader", "progress", "remark"):
                setattr(current, f, text.get(f, ""))
            owners = [n for n in NAME_SPLIT_RE.split(text.get("owner", "")) if n]
            current.owner, current.co_owners = (owners[0], owners[1:]) if owners else ("", [])
            if not current.description:
                problems.append(Problem(source, rownum, "问题描述", "", "问题描述为空"))
            parsed.items.append(current)
        elif current is None:
            continue
        measure = text.get("measure", "")
        if not measure:
            if not continuation:
                problems.append(Problem(source, rownum, "整改措施", "", "整改措施为空"))
            continue
        try:
            dl = parse_deadline(raw.get("deadline"), register_date, calendar, immediate_days)
        except DeadlineError as exc:
            problems.append(Problem(source, rownum, "整改时限", text.get("deadline", ""), str(exc)))
            continue
        if not any(m.text == measure for m in current.measures):  # merged measure cells repeat
            current.measures.append(MeasureRow(measure, dl))


def _check_duplicates(parsed: ParsedRegister, problems: list[Problem]) -> None:
    seen: dict[str, int] = {}
    for item in parsed.items:
        if item.code in seen:
            problems.append(Problem(item.origin, item.row, "序号", item.code,
                                    f"序号重复（第{seen[item.code]}行已使用）"))
        seen.setdefault(item.code, item.row)
    names: dict[str, int] = {}
    for p in parsed.people:
        if p.name in names:
            problems.append(Problem(p.origin, p.row, "姓名", p.name, f"姓名重复（第{names[p.name]}行已出现）"))
        names.setdefault(p.name, p.row)


def _check_references(session: Session, parsed: ParsedRegister, problems: list[Problem]) -> dict[str, Person]:
    known = {p.name: p for p in session.scalars(select(Person))}
    sheet_names = {p.name for p in parsed.people}
    for item in parsed.items:
        for column, names in (("责任领导", [item.leader]), ("责任人", [item.owner, *item.co_owners])):
            for name in names:
                if name and name not in known and name not in sheet_names:
                    problems.append(Problem(item.origin, item.row, column, name, "不在人员名单中"))
    return known


def _check_actor(actor: str | None, known: dict[str, Person], parsed: ParsedRegister) -> None:
    """Importing is the secretary's job. The very first import (no secretary yet) bootstraps."""
    sheet_roles = {p.name: p.role for p in parsed.people}
    if actor:
        role = known[actor].role if actor in known else sheet_roles.get(actor)
        if role is None:
            raise Forbidden(f"人员名单中没有“{actor}”")
        if role is not Role.secretary:
            raise Forbidden(f"{actor}（{role.label}）无权导入整改清单，仅秘书可以")
    elif any(p.role is Role.secretary for p in known.values()):
        raise Forbidden("导入整改清单须由秘书操作：请用 --as 姓名 或设置环境变量 RECTIFY_USER")


def import_register(session: Session, paths: list[Path], *, day: date, calendar: WorkCalendar,
                    immediate_days: int = 5, actor: str | None = None, dry_run: bool = False,
                    progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """Validate every row, then apply everything in the session's transaction (flush only).

    With dry_run the caller rolls back; the result says what would have changed.
    """
    parsed, problems = parse_files(paths, day, calendar, immediate_days)
    known = _check_references(session, parsed, problems)
    if problems:
        raise ImportRejected(problems)
    _check_actor(actor, known, parsed)
    result = ImportResult(dry_run=dry_run)
    people = _apply_people(session, parsed.people, known, result)
    _apply_items(session, parsed.items, people, day, actor or SYSTEM, result, progress,
                 calendar, immediate_days)
    session.flush()
    return result


def _apply_people(session: Session, rows: list[PersonRow], known: dict[str, Person],
                  result: ImportResult) -> dict[str, Person]:
    for row in rows:
        person = known.get(row.name)
        values = dict(title=row.title, department=row.department, email=row.email, role=row.role)
        if person is None:
            person = Person(name=row.name, **values)
            session.add(person)
            known[row.name] = person
            result.people_created.append(row.name)
        elif any(getattr(person, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(person, k, v)
            result.people_updated.append(row.name)
    session.flush()
    return known


def _item_values(row: ItemRow, people: dict[str, Person]) -> dict:
    remark = row.remark
    if row.co_owners:
        extra = "协办：" + "、".join(row.co_owners)
        remark = f"{remark}；{extra}" if remark and extra not in remark else (remark or extra)
    return dict(
        source=row.source, category=row.category, description=row.description,
        department=row.department, remark=remark, deadline=row.deadline,
        leader_id=people[row.leader].id if row.leader else None,
        owner_id=people[row.owner].id if row.owner else None,
    )


def _measure_values(row: ItemRow) -> list[tuple[str, date | None, str]]:
    return [(m.text, m.deadline.due, m.deadline.text) for m in row.measures]


def _rebase(row: ItemRow, register_date: date, calendar: WorkCalendar, immediate_days: int) -> None:
    """Relative phrases (N个工作日内, 立行立改, 12月底前) count from the item's own register date.

    Re-importing the same register weeks later must not move its deadlines: the phrases were
    parsed against the import day, so parse them again against the day the item was registered.
    """
    row.measures = [
        MeasureRow(m.text, m.deadline if m.deadline.ongoing else
                   parse_deadline(m.deadline.text, register_date, calendar, immediate_days))
        for m in row.measures
    ]


def _apply_items(session: Session, rows: list[ItemRow], people: dict[str, Person], day: date,
                 actor: str, result: ImportResult, progress, calendar: WorkCalendar,
                 immediate_days: int) -> None:
    codes = [r.code for r in rows]
    existing: dict[str, Item] = {}
    for chunk in range(0, len(codes), 500):  # stay under SQLite's bound-parameter limit
        stmt = (select(Item).where(Item.code.in_(codes[chunk:chunk + 500]))
                .options(selectinload(Item.measures)))
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
            item = Item(code=row.code, status=Status.ongoing if ongoing else Status.new,
                        register_date=day, deadline_changed_on=day,
                        last_progress_on=day if row.progress else None, **values)
            item.measures = [Measure(position=i, text=t, deadline=d, deadline_text=dt)
                             for i, (t, d, dt) in enumerate(_measure_values(row))]
            session.add(item)
            fresh.append((item, row))
        else:
            _update_item(session, item, row, values, names, day, actor, result)
        if progress and (n % 200 == 0 or n == len(rows)):
            progress(n, len(rows))
    session.flush()  # one batched INSERT for every new item, then their audit records
    for item, row in fresh:
        record(session, item, actor, day, "import", None, item.status,
               details={"row": row.row, "deadline": str(item.deadline) if item.deadline else None})
        if row.progress:
            session.add(ProgressNote(item_id=item.id, day=day, note=row.progress))
        result.created.append(item.code)


def _update_item(session: Session, item: Item, row: ItemRow, values: dict, names: dict[int, str],
                 day: date, actor: str, result: ImportResult) -> None:
    changes = {}
    for key, new in values.items():
        old = getattr(item, key)
        if old != new:
            show = (lambda v: names.get(v, v)) if key.endswith("_id") else (lambda v: v)
            changes[key.removesuffix("_id")] = [_json(show(old)), _json(show(new))]
    new_measures = _measure_values(row)
    old_measures = [(m.text, m.deadline, m.deadline_text) for m in item.measures]
    # Changed means another text or another due date: "10个工作日内" exported back as the date it
    # meant is the same deadline, and must not restart the reminder ladder.
    if [(t, d) for t, d, _ in new_measures] != [(t, d) for t, d, _ in old_measures]:
        changes["measures"] = [[f"{t}（{dt}）" for t, _, dt in old_measures],
                               [f"{t}（{dt}）" for t, _, dt in new_measures]]
        # Delete the old rows first: the unit of work would insert before deleting and trip
        # the (item, position) unique constraint.
        item.measures.clear()
        session.flush()
        item.measures = [Measure(position=i, text=t, deadline=d, deadline_text=dt)
                         for i, (t, d, dt) in enumerate(new_measures)]
    old_progress = item.progress_notes[-1].note if row.progress and item.progress_notes else None
    if row.progress and row.progress != old_progress:
        session.add(ProgressNote(item_id=item.id, day=day, note=row.progress))
        item.last_progress_on = day
        changes["progress"] = [old_progress, row.progress]
    if not changes:
        result.unchanged.append(item.code)
        return
    for key, new in values.items():
        setattr(item, key, new)
    if "deadline" in changes or "measures" in changes:
        item.deadline_changed_on = day  # a new deadline restarts the reminder ladder
    session.flush()  # the measure list replacement must hit the table before the audit row
    record(session, item, actor, day, "update", item.status, item.status,
           details={"row": row.row, "changes": changes})
    result.updated.append(item.code)


def _json(value):
    return value.isoformat() if isinstance(value, date) else value
