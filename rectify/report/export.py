"""The register written back to Excel, as an office keeps it, and re-importable.

Sheet 问题整改清单: a title row, then the customary columns (序号 … 备注) and 状态; one problem's
measures on consecutive rows with the problem's own columns merged over them. Sheet 人员名单:
姓名, 职务, 部门, 邮箱, 角色. The importer reads this file back: it finds the header row under the
title, copies merged values to every row and ignores the 状态 column (not one of its headers).

整改时限 is written as the office wrote it (Measure.deadline_text), except relative phrases
(N个工作日内, 立行立改, 12月底前 and 年底前 without a year): those count from the register's date,
so re-importing them on another day would move the deadline. They are written as the date
they resolved to ("2026年11月9日"), which means the same day whenever and wherever the sheet is
imported. 整改进展 is the latest note that came from the register (author_id NULL): that is
what the importer compares the column with, so a re-import finds it unchanged, and an owner's
own note is not copied back into the register as if the office had written it.

Every text is written as a string cell, whatever it starts with: openpyxl would otherwise turn
"=HYPERLINK(…)" into a live formula (formula injection, and a cell the importer reads back as
empty) and "#N/A" into an error value. Characters an .xlsx cannot hold (C0 controls other than
tab and line breaks, possibly stored before the domain refused them) are dropped rather than
failing the whole report.
"""

from __future__ import annotations

from copy import copy
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from models import Item, Measure, Person, ProgressNote
from models.status import ROLE_LABELS, Role, Status
from rectify.report.figures import is_relative_deadline
from rectify.report.wording import cn_date

REGISTER_COLUMNS = ["序号", "问题来源", "问题类别", "问题描述", "整改措施", "责任领导", "责任部门",
                    "责任人", "整改时限", "整改进展", "备注", "状态"]
MEASURE_COLUMNS = {4, 8}  # 0-based: 整改措施, 整改时限 vary per row; the rest is the problem's
PEOPLE_COLUMNS = ["姓名", "职务", "部门", "邮箱", "角色"]
WIDTHS = [14, 14, 14, 40, 40, 10, 14, 10, 16, 30, 20, 10]
TITLE_ROWS = 1


def deadline_cell(deadline_text: str, due: date | None) -> str:
    if due is not None and is_relative_deadline(deadline_text):
        return cn_date(due)
    return deadline_text


def _cells(ws, values) -> list:
    """Cells for ws.append: strings as explicit string cells, cleaned; the rest as they are."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell

    out = []
    for value in values:
        if isinstance(value, str):
            cell = Cell(ws, value=ILLEGAL_CHARACTERS_RE.sub("", value))
            cell.data_type = "s"  # after the value: its setter infers "f" for "=…", "e" for "#N/A"
            out.append(cell)
        else:
            out.append(value)
    return out


def _register_rows(session: Session):
    """(item columns, [(measure, deadline cell)]) per item, in code order: three queries."""
    owner, leader = aliased(Person), aliased(Person)
    latest_note = (
        select(ProgressNote.item_id, func.max(ProgressNote.id).label("id"))
        .where(ProgressNote.author_id.is_(None))
        .group_by(ProgressNote.item_id).subquery()
    )
    items = session.execute(
        select(Item.id, Item.code, Item.source, Item.category, Item.description, leader.name,
               Item.department, owner.name, ProgressNote.note, Item.remark, Item.status)
        .outerjoin(owner, Item.owner_id == owner.id)
        .outerjoin(leader, Item.leader_id == leader.id)
        .outerjoin(latest_note, latest_note.c.item_id == Item.id)
        .outerjoin(ProgressNote, ProgressNote.id == latest_note.c.id)
        .order_by(Item.code)
    ).all()
    measures: dict[int, list[tuple[str, str]]] = {}
    for item_id, text, deadline_text, due in session.execute(
        select(Measure.item_id, Measure.text, Measure.deadline_text, Measure.deadline)
        .order_by(Measure.item_id, Measure.position)
    ):
        measures.setdefault(item_id, []).append((text, deadline_cell(deadline_text, due)))
    for id_, code, source, category, desc, leader_name, dept, owner_name, note, remark, st in items:
        cols = [code, source, category, desc, None, leader_name or "", dept, owner_name or "",
                None, note or "", remark, Status(st).label]
        yield cols, measures.get(id_, [])


def _merge_problem_columns(ws, spans: list[tuple[int, int]], ncols: int) -> None:
    """The problem's columns span its measure rows. ws.merge_cells checks each new range against
    every existing one (quadratic: minutes for 10,000 items); these ranges are disjoint by
    construction, so they go straight into the set, and the covered cells become MergedCells
    exactly as merge_cells would leave them. Plain CellRanges: MergedCellRange would rebuild
    each range's border objects (seconds), and the writer only needs the range's text. Called
    after styling, just before saving."""
    from openpyxl.cell.cell import MergedCell
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.cell_range import CellRange

    for first, last in spans:
        for c in range(1, ncols + 1):
            if c - 1 in MEASURE_COLUMNS:
                continue
            letter = get_column_letter(c)
            ws.merged_cells.ranges.add(CellRange(f"{letter}{first}:{letter}{last}"))
            for r in range(first + 1, last + 1):
                merged = MergedCell(ws, r, c)
                merged._style = copy(ws._cells[r, c]._style)  # keep the grid lines
                ws._cells[r, c] = merged


def write_register_xlsx(session: Session, path: Path, *, title: str = "问题整改清单", as_of=None, office=None) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "问题整改清单"
    ncols = len(REGISTER_COLUMNS)
    ws.append(_cells(ws, [title]))
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=ncols)
    ws["A1"].font = Font(bold=True, size=16)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 30
    ws.append(_cells(ws, REGISTER_COLUMNS))
    head_font = Font(bold=True)
    for cell in ws[TITLE_ROWS + 1]:
        cell.font = head_font
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for i, w in enumerate(WIDTHS, 1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = f"A{TITLE_ROWS + 2}"  # a string: ws.cell() would create a row

    row = TITLE_ROWS + 2
    merges: list[tuple[int, int]] = []
    for cols, measures in _register_rows(session):
        measures = measures or [("", "")]
        for k, (text, deadline) in enumerate(measures):
            values = list(cols) if k == 0 else [None] * ncols
            values[4], values[8] = text, deadline
            ws.append(_cells(ws, values))
        if len(measures) > 1:
            merges.append((row, row + len(measures) - 1))
        row += len(measures)
    wrap = Alignment(vertical="top", wrap_text=True)
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    # Style one cell through the public API, then copy its style array to the others:
    # assigning .border/.alignment per cell re-hashes the style objects (seconds at 10,000 items).
    for cell in ws[TITLE_ROWS + 1]:
        cell.border = border
    proto = ws.cell(TITLE_ROWS + 2, 1)
    proto.border, proto.alignment = border, wrap
    for cells in ws.iter_rows(min_row=TITLE_ROWS + 2, max_row=row - 1, max_col=ncols):
        for cell in cells:
            cell._style = copy(proto._style)
    _merge_problem_columns(ws, merges, ncols)
    ws.print_title_rows = f"{TITLE_ROWS + 1}:{TITLE_ROWS + 1}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True

    people = wb.create_sheet("人员名单")
    people.append(_cells(people, PEOPLE_COLUMNS))
    for cell in people[1]:
        cell.font = head_font
    for name, title_, dept, email, role in session.execute(
        select(Person.name, Person.title, Person.department, Person.email, Person.role).order_by(Person.id)
    ):
        people.append(_cells(people, [name, title_, dept, email, ROLE_LABELS[Role(role)]]))
    for letter, w in zip("ABCDE", (10, 24, 14, 34, 10)):
        people.column_dimensions[letter].width = w

    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
