"""The register (附件2 问题整改清单) written back to Excel, as of a date, printable as offices
print it, and re-importable.

Sheet 问题整改清单: an "附件2" label, the title row, a 填报单位/填报日期 row, then the customary
columns (序号 … 备注) and 状态; one problem's measures on consecutive rows with the problem's own
columns merged over them. Sheet 人员名单: 姓名, 职务, 部门, 邮箱, 角色. The importer reads the
file back: it finds the header row under the title rows, copies merged values to every row and
ignores 完成情况 and 状态 (not among its headers).

As of the date, like the report: an item appears once it was imported by then, with the status
its audit trail had that day (compiled by rectify.report.figures.status_as_of); 整改进展 is the
latest progress note written on or before the day (whoever wrote it: the importer treats a
text that is already one of the item's notes as unchanged); 完成情况 of an item closed by then is
the closure summary its owner submitted. 整改时限 is one date form, 2026年12月31日, whatever the
office wrote ("12月底前", "立行立改", "2026/11/20"): relative phrases count from the register's
date, so a written date is also what keeps a re-import on another day from moving deadlines;
长期坚持 stays as it is.

Written with XlsxWriter, not openpyxl: 10,000 items take about a second instead of six (numbers
in docs/report-document.md), and it never turns text into a formula (write_string). Characters an
.xlsx cannot hold (C0 controls other than tab and line breaks, possibly stored before the
domain refused them) are dropped rather than failing the whole report. Row heights are
computed from the text (LibreOffice and Excel do not grow rows under merged cells), so nothing
is clipped when printed.
"""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from models import AuditRecord, Item, Measure, Person, ProgressNote
from models.status import ROLE_LABELS, Role, Status
from rectify.report.figures import status_as_of
from rectify.report.wording import Office, cn_date
from rectify.sheets import FORMULA_START

REGISTER_COLUMNS = [
    "序号",
    "问题来源",
    "问题类别",
    "问题描述",
    "整改措施",
    "责任领导",
    "责任部门",
    "责任人",
    "整改时限",
    "整改进展",
    "完成情况",
    "备注",
    "状态",
]
MEASURE_COLUMNS = {4, 8}  # 0-based: 整改措施, 整改时限 vary per row; the rest is the problem's
# The problem's columns whose text can need more than one line (编号, names and 状态 never do).
WRAPPING = (1, 2, 3, 6, 9, 10, 11)
PEOPLE_COLUMNS = ["姓名", "职务", "部门", "邮箱", "角色"]
# Column widths in Excel units (one unit ≈ one Latin digit; a Chinese character takes two).
# 160 units: printed one page wide on landscape A4 at about 90 %, so 五号 stays readable.
WIDTHS = [12, 9, 9, 22, 24, 9, 9, 8, 15, 14, 12, 8, 9]
PEOPLE_WIDTHS = [10, 24, 14, 32, 10]
TITLE_ROWS = 3  # 附件2 label, title, 填报单位/填报日期; the header row follows
FONT, TITLE_FONT, HEAD_FONT = "宋体", "方正小标宋简体", "黑体"
SIZE = 10.5  # 五号
LINE_PT = 15  # one line of 五号 text with leading
ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def deadline_cell(due: date | None, deadline_text: str = "") -> str:
    return cn_date(due) if due is not None else (deadline_text or "长期坚持")


def _clean(value) -> str:
    text = "" if value is None else str(value)
    return ILLEGAL.sub("", text) if not text.isprintable() else text


def _lines(text: str, width: float) -> int:
    """Lines a wrapped cell needs at SIZE in a column `width` units wide. A Chinese character
    (3 bytes in UTF-8) takes two units, ASCII one: (bytes + characters) / 2, counted in C."""
    usable = max(width - 1.5, 2) * 11 / SIZE
    n = 0
    for part in text.split("\n"):
        units = (len(part.encode("utf-8")) + len(part)) / 2
        n += max(1, math.ceil(units / usable))
    return n


def _put(ws, row: int, col: int, value: str, fmt) -> None:
    """A string cell, always text (never a formula or a number); an empty one stays blank.
    `fmt` is a (plain, quoted) pair: text that starts like a formula gets Excel's quote prefix
    (the '= mark, not shown and not part of the value), so it stays text once edited in Excel."""
    plain, quoted = fmt
    if value:
        ws.write_string(row, col, value, quoted if value.startswith(FORMULA_START) else plain)
    else:
        ws.write_blank(row, col, None, plain)


def _register_rows(session: Session, as_of: date):
    """(item columns, [(measure, deadline cell)]) per item imported by as_of, in code order."""
    statuses = status_as_of(session, as_of)
    owner, leader = aliased(Person), aliased(Person)
    items = session.execute(
        select(
            Item.id,
            Item.code,
            Item.source,
            Item.category,
            Item.description,
            leader.name,
            Item.department,
            owner.name,
            Item.remark,
        )
        .outerjoin(owner, Item.owner_id == owner.id)
        .outerjoin(leader, Item.leader_id == leader.id)
        .order_by(Item.code)
    ).all()
    notes: dict[int, str] = {}
    for item_id, note in session.execute(
        select(ProgressNote.item_id, ProgressNote.note)
        .where(ProgressNote.day <= as_of)
        .order_by(ProgressNote.item_id, ProgressNote.day, ProgressNote.id)
    ):
        notes[item_id] = note  # the last one wins
    summaries: dict[int, str] = {}
    for item_id, comment in session.execute(
        select(AuditRecord.item_id, AuditRecord.comment)
        .where(AuditRecord.action == "submit", AuditRecord.day <= as_of)
        .order_by(AuditRecord.item_id, AuditRecord.day, AuditRecord.id)
    ):
        summaries[item_id] = comment or ""
    measures: dict[int, list[tuple[str, str]]] = {}
    for item_id, text, deadline_text, due in session.execute(
        select(Measure.item_id, Measure.text, Measure.deadline_text, Measure.deadline).order_by(
            Measure.item_id, Measure.position
        )
    ):
        measures.setdefault(item_id, []).append((text, deadline_cell(due, deadline_text)))
    for id_, code, source, category, desc, leader_name, dept, owner_name, remark in items:
        st = statuses.get(id_)
        if st is None:  # not imported yet on as_of
            continue
        status = Status(st)
        done = summaries.get(id_, "") if status is Status.closed else ""
        cols = [
            code,
            source,
            category,
            desc,
            None,
            leader_name or "",
            dept,
            owner_name or "",
            None,
            notes.get(id_, ""),
            done,
            remark,
            status.label,
        ]
        yield cols, measures.get(id_, [])


def _print_setup(ws, *, landscape: bool, header_row: int) -> None:
    ws.set_paper(9)  # A4
    if landscape:
        ws.set_landscape()
    ws.set_margins(left=0.5, right=0.5, top=0.7, bottom=0.8)
    ws.center_horizontally()
    ws.fit_to_pages(1, 0)  # one page wide, as many pages tall as needed
    ws.repeat_rows(header_row)
    ws.set_footer('&C&"宋体"&10第 &P 页，共 &N 页')


def write_register_xlsx(
    session: Session,
    path: Path,
    *,
    as_of: date | None = None,
    office: Office | None = None,
    title: str = "问题整改清单",
) -> Path:
    import xlsxwriter

    from rectify.settings import office_today

    as_of = as_of or office_today()
    office = office or Office()
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    wb.set_properties(
        {
            "title": f"{title}（截至{cn_date(as_of)}）",
            "author": office.org_name,
            "company": office.org_name,
            "comments": "",
        }
    )
    base = {"font_name": FONT, "font_size": SIZE, "text_wrap": True, "valign": "vcenter", "border": 1}
    f_label = wb.add_format({"font_name": HEAD_FONT, "font_size": 14})
    f_title = wb.add_format(
        {"font_name": TITLE_FONT, "font_size": 20, "align": "center", "valign": "vcenter"}
    )
    f_info = wb.add_format({"font_name": FONT, "font_size": 12, "valign": "vcenter"})
    f_info_r = wb.add_format({"font_name": FONT, "font_size": 12, "valign": "vcenter", "align": "right"})
    f_head = wb.add_format({**base, "font_name": HEAD_FONT, "align": "center", "bg_color": "#F2F2F2"})
    f_text = tuple(wb.add_format({**base, "align": "left", "quote_prefix": q}) for q in (False, True))
    f_center = tuple(wb.add_format({**base, "align": "center", "quote_prefix": q}) for q in (False, True))
    centred = {0, 1, 2, 5, 6, 7, 8, 12}
    formats = [f_center if c in centred else f_text for c in range(len(REGISTER_COLUMNS))]

    ws = wb.add_worksheet("问题整改清单")
    ncols = len(REGISTER_COLUMNS)
    for i, w in enumerate(WIDTHS):
        ws.set_column(i, i, w)
    ws.write_string(0, 0, "附件2", f_label)
    ws.merge_range(1, 0, 1, ncols - 1, _clean(title), f_title)
    ws.set_row(1, 36)
    half = ncols // 2
    ws.merge_range(2, 0, 2, half - 1, _clean(f"填报单位：{office.org_name}"), f_info)
    ws.merge_range(2, half, 2, ncols - 1, f"填报日期：{cn_date(as_of)}", f_info_r)
    ws.set_row(2, 24)
    head = TITLE_ROWS
    for c, name in enumerate(REGISTER_COLUMNS):
        ws.write_string(head, c, name, f_head)
    ws.set_row(head, max(_lines(h, w) for h, w in zip(REGISTER_COLUMNS, WIDTHS)) * LINE_PT + 6)
    ws.freeze_panes(head + 1, 0)

    row = head + 1
    for cols, measures in _register_rows(session, as_of):
        measures = [(_clean(t), _clean(d)) for t, d in measures] or [("", "")]
        k = len(measures)
        values = [_clean(v) for v in cols]
        # Lines each row needs for its own measure cells, and the merged cells over all rows.
        own = [max(_lines(t, WIDTHS[4]), _lines(d, WIDTHS[8])) for t, d in measures]
        merged = max(_lines(values[c], WIDTHS[c]) for c in WRAPPING)
        extra = max(0, merged - sum(own))
        # Row by row (constant_memory writes each row out as the next one starts): the
        # problem's columns hold their value on the first row and blanks below, merged.
        for j, (text, deadline) in enumerate(measures):
            r = row + j
            lines = own[j] + (extra // k + (1 if j < extra % k else 0))
            ws.set_row(r, lines * LINE_PT + 6)
            for c, fmt in enumerate(formats):
                if c == 4:
                    _put(ws, r, c, text, fmt)
                elif c == 8:
                    _put(ws, r, c, deadline, fmt)
                elif j == 0:
                    _put(ws, r, c, values[c], fmt)
                else:
                    ws.write_blank(r, c, None, fmt[0])
        if k > 1:  # ranges disjoint by construction: no per-cell overlap bookkeeping
            ws.merge.extend([row, c, row + k - 1, c] for c in range(ncols) if c not in MEASURE_COLUMNS)
        row += k
    _print_setup(ws, landscape=True, header_row=head)

    people = wb.add_worksheet("人员名单")
    for i, w in enumerate(PEOPLE_WIDTHS):
        people.set_column(i, i, w)
    for c, name in enumerate(PEOPLE_COLUMNS):
        people.write_string(0, c, name, f_head)
    people.set_row(0, 22)
    for r, (name, title_, dept, email, role) in enumerate(
        session.execute(
            select(Person.name, Person.title, Person.department, Person.email, Person.role).order_by(
                Person.id
            )
        ),
        1,
    ):
        values = [_clean(name), _clean(title_), _clean(dept), _clean(email), ROLE_LABELS[Role(role)]]
        for c, value in enumerate(values):
            _put(people, r, c, value, f_center if c in (0, 4) else f_text)
        people.set_row(r, max(_lines(v, w) for v, w in zip(values, PEOPLE_WIDTHS)) * LINE_PT + 4)
    _print_setup(people, landscape=False, header_row=0)
    wb.close()
    return path
