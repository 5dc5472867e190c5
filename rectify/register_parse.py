"""Register import, first half: read the files into rows and collect every problem.

Nothing here touches the ledger. parse_files turns the sheets of an office's register (整改清单,
人员名单, in any of the header words offices use) into ItemRow/PersonRow values (rectify.register_rows) and a list of
Problem (file, row, column, value, message), so that one run names every bad cell at once. The
second half, rectify.importer (with rectify.import_checks), checks the rows against the ledger and
applies a clean file in one transaction; keeping the two apart keeps each readable and lets a dry run or a bench parse
without a database.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from pathlib import Path

from models.status import parse_role
from rectify.change_rules import CONTROL_RE, TEXT_CONTROL_RE
from rectify.deadlines import DeadlineError, parse_deadline
from rectify.measures import says_done
from rectify.periods import parse_register_word
from rectify.register_rows import ItemRow, MeasureRow, ParsedRegister, PersonRow, Problem
from rectify.sheets import Sheet, Uncomputed, read_sheets
from rectify.workdays import WorkCalendar
from rectify.names import name_problem, normalise_name

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
    # per measure (row): 已完成 / 已整改 / 完成 imports the measure as done (rectify.measures.says_done)
    "completion": ["完成情况", "完成状态", "是否完成", "completion"],
    "remark": ["备注", "remark", "remarks", "note", "notes"],
    "reporting": ["汇报频次", "报送频次", "汇报周期", "报送周期", "reporting"],
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
# Control characters (rectify.change_rules' CONTROL_RE / TEXT_CONTROL_RE) are never legitimate in a
# name, title, address or short field (they would end up in email headers); multi-line text
# fields may keep line breaks and tabs.
NAME_SPLIT_RE = re.compile(r"[、，,；;/\s]+")
SHORT_FIELDS = ("code", "source", "category", "leader", "department", "owner")
# Column widths of the ledger (models/): SQLite would store longer text, PostgreSQL refuses the
# whole transaction without naming the row, so each cell is measured here.
MAX_LENGTHS = {
    "code": 64,
    "source": 128,
    "category": 128,
    "department": 128,
    "deadline": 64,
    "name": 64,
    "title": 128,
    "email": 254,
}
# The columns that belong to the problem rather than to one measure: a row without a code
# continues the problem above only if these are empty or repeat it (merged cells).
ITEM_FIELDS = (
    "source",
    "category",
    "description",
    "department",
    "leader",
    "owner",
    "progress",
    "remark",
    "reporting",
)


def _too_long(source: str, rownum: int, field_: str, value: str, limit: int) -> Problem | None:
    if len(value) <= limit:
        return None
    return Problem(source, rownum, COLUMN_LABELS[field_], value, f"过长（{len(value)}个字符，最多{limit}个）")


def _uncomputed(source: str, rownum: int, raw: dict[str, object]) -> list[Problem]:
    return [
        Problem(
            source,
            rownum,
            COLUMN_LABELS[f],
            str(v),
            "公式没有保存计算结果：请在 Excel 中打开并保存后再导入，或改为直接填写内容",
        )
        for f, v in raw.items()
        if isinstance(v, Uncomputed)
    ]


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


def parse_files(
    paths: list[Path], register_date: date, calendar: WorkCalendar, immediate_days: int
) -> tuple[ParsedRegister, list[Problem]]:
    parsed, problems = ParsedRegister(), []
    for path in paths:
        sheets = read_sheets(path)
        parsed.skipped_sheets += [s.source for s in sheets if s.hidden]
        sheets = [s for s in sheets if not s.hidden]
        for sheet in sheets:
            found = _find_header(sheet)
            if found is None:
                # Extra sheets (notes, instructions) are fine; a lone sheet without a header is not.
                if len(sheets) == 1:
                    problems.append(
                        Problem(
                            sheet.source,
                            None,
                            None,
                            None,
                            "找不到表头（应包含 序号、问题描述、整改措施、整改时限 等列）",
                        )
                    )
                continue
            kind, idx, cols = found
            rows = sheet.rows[idx + 1 :]
            if kind == "people":
                _parse_people(sheet.source, rows, cols, parsed, problems)
            else:
                _parse_register(
                    sheet.source, rows, cols, parsed, problems, register_date, calendar, immediate_days
                )
    if not parsed.items and not parsed.people and not problems:
        hidden = (
            f"（隐藏的工作表不导入：{'、'.join(parsed.skipped_sheets)}）" if parsed.skipped_sheets else ""
        )
        problems.append(
            Problem(", ".join(p.name for p in paths), None, None, None, "没有找到整改清单或人员名单" + hidden)
        )
    _check_duplicates(parsed, problems)
    return parsed, problems


def _parse_people(source: str, rows, cols, parsed: ParsedRegister, problems: list[Problem]) -> None:
    for rownum, cells in rows:
        raw = {f: cells[i] for f, i in cols.items() if i < len(cells)}
        values = {f: _cell_text(raw.get(f)) for f in PEOPLE_HEADERS}
        if not any(values.values()):
            continue
        values["name"] = normalise_name(values["name"])
        bad = bool(formulas := _uncomputed(source, rownum, raw))
        problems += formulas
        for f in ("name", "title", "department", "email"):
            if problem := _too_long(source, rownum, f, values[f], MAX_LENGTHS[f]):
                problems.append(problem)
                bad = True
        for f in PEOPLE_HEADERS:
            if CONTROL_RE.search(values[f]):
                problems.append(
                    Problem(source, rownum, COLUMN_LABELS[f], values[f], "含有控制字符（如换行符）")
                )
                bad = True
        if not values["name"]:
            problems.append(Problem(source, rownum, "姓名", "", "姓名为空"))
            bad = True
        elif reason := name_problem(values["name"]):
            problems.append(Problem(source, rownum, "姓名", values["name"], reason))
            bad = True
        if not EMAIL_RE.match(values["email"]) and not CONTROL_RE.search(values["email"]):
            problems.append(Problem(source, rownum, "邮箱", values["email"], "邮箱地址格式不正确"))
            bad = True
        role = parse_role(values["role"])
        if role is None:
            problems.append(
                Problem(
                    source,
                    rownum,
                    "角色",
                    values["role"],
                    "未知的角色（可填 责任人、责任领导/分管领导、秘书/督查，或 owner、leader、secretary）",
                )
            )
            bad = True
        if not bad and role is not None:
            parsed.people.append(
                PersonRow(
                    rownum,
                    values["name"],
                    values["title"],
                    values["department"],
                    values["email"],
                    role,
                    source,
                )
            )


def _parse_register(
    source: str,
    rows,
    cols,
    parsed: ParsedRegister,
    problems: list[Problem],
    register_date: date,
    calendar: WorkCalendar,
    immediate_days: int,
) -> None:
    current: ItemRow | None = None
    for rownum, cells in rows:
        raw = {f: (cells[i] if i < len(cells) else None) for f, i in cols.items()}
        text = {f: _cell_text(v) for f, v in raw.items()}
        if not any(text.values()):
            continue
        for f in ("leader", "owner"):
            if f in text:
                text[f] = normalise_name(text[f])
        if formulas := _uncomputed(source, rownum, raw):
            # An empty-looking code and description would make it a continuation row otherwise.
            problems += formulas
            current = None
            continue
        for f, v in text.items():
            pattern = CONTROL_RE if f in SHORT_FIELDS else TEXT_CONTROL_RE
            if pattern.search(v):
                problems.append(Problem(source, rownum, COLUMN_LABELS[f], v, "含有控制字符"))
            if f in MAX_LENGTHS and (problem := _too_long(source, rownum, f, v, MAX_LENGTHS[f])):
                problems.append(problem)
        code = text.get("code", "")
        # A measure row of the same problem: merged cells repeat the problem's columns, unmerged
        # ones leave them empty. Anything else (another description, leader, owner, category…) is
        # not a measure of this problem: with the same code it is a second problem (a
        # copy-pasted code), without a code it is an error, never silently merged.
        differing = [
            f
            for f in ITEM_FIELDS
            if current is not None and text.get(f, "") not in ("", current.cells.get(f, ""))
        ]
        continuation = current is not None and code in ("", current.code) and not differing
        if not continuation:
            if not code:
                if current is not None and not text.get("description"):
                    f = differing[0]
                    problems.append(
                        Problem(
                            source,
                            rownum,
                            COLUMN_LABELS[f],
                            text[f],
                            f"序号为空，但与上一事项（{current.code}）的{COLUMN_LABELS[f]}不同："
                            "新事项须填写序号，同一事项的各行须一致",
                        )
                    )
                else:
                    problems.append(Problem(source, rownum, "序号", "", "序号为空"))
                current = None
                continue
            current = ItemRow(rownum, code, origin=source, cells={f: text.get(f, "") for f in ITEM_FIELDS})
            for f in ("source", "category", "description", "department", "leader", "progress", "remark"):
                setattr(current, f, text.get(f, ""))
            owners = [n for n in NAME_SPLIT_RE.split(text.get("owner", "")) if n]
            current.owner, current.co_owners = (owners[0], owners[1:]) if owners else ("", [])
            for name, column in ((current.leader, "leader"), *((n, "owner") for n in owners)):
                # each owner named in a cell is a person: a name column's width applies to it
                if len(name) > MAX_LENGTHS["name"]:
                    problems.append(
                        Problem(
                            source,
                            rownum,
                            COLUMN_LABELS[column],
                            name,
                            f"姓名过长（{len(name)}个字符，最多{MAX_LENGTHS['name']}个）",
                        )
                    )
                elif reason := name_problem(name):
                    problems.append(Problem(source, rownum, COLUMN_LABELS[column], name, reason))
            if not current.description:
                problems.append(Problem(source, rownum, "问题描述", "", "问题描述为空"))
            try:
                current.reporting = parse_register_word(text.get("reporting", ""))
            except ValueError as exc:
                problems.append(Problem(source, rownum, "汇报频次", text["reporting"], str(exc)))
            parsed.items.append(current)
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
        assert current is not None  # a continuation row has one; a new item row has just set it
        if not any(m.text == measure for m in current.measures):  # merged measure cells repeat
            done = next(
                (t for t in (text.get("completion", ""), text.get("progress", "")) if says_done(t)), None
            )
            current.measures.append(MeasureRow(measure, dl, done))


def _check_duplicates(parsed: ParsedRegister, problems: list[Problem]) -> None:
    seen: dict[str, int] = {}
    for item in parsed.items:
        if item.code in seen:
            problems.append(
                Problem(item.origin, item.row, "序号", item.code, f"序号重复（第{seen[item.code]}行已使用）")
            )
        seen.setdefault(item.code, item.row)
    names: dict[str, int] = {}
    for p in parsed.people:
        if p.name in names:
            problems.append(
                Problem(p.origin, p.row, "姓名", p.name, f"姓名重复（第{names[p.name]}行已出现）")
            )
        names.setdefault(p.name, p.row)
