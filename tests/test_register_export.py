"""The register export (附件2 问题整改清单) as of a date and as offices print it, and
`rectify list --as-of` replaying the same day."""

from __future__ import annotations

import json
from datetime import date

from openpyxl import load_workbook

from models.db import session_factory
from rectify.report.export import write_register_xlsx
from rectify.report.wording import Office
from ledger_helpers import sh
from report_helpers import demo_ledger

HEAD = 4  # header row under 附件2, the title and 填报单位/填报日期


def export(url, path, day, office=None):
    with session_factory(url)() as s:
        return write_register_xlsx(s, path, as_of=day, office=office)


def rows_by_code(ws) -> dict[str, dict]:
    head = [c.value for c in ws[HEAD]]
    return {
        ws.cell(r, 1).value: dict(zip(head, (c.value for c in ws[r])))
        for r in range(HEAD + 1, ws.max_row + 1)
        if ws.cell(r, 1).value
    }


def test_statuses_progress_and_completion_as_of_the_date(sqlite_url, tmp_path):
    demo_ledger(sqlite_url, tmp_path)  # 001: note 11-20; 012: submitted 11-24, closed 11-25
    before = rows_by_code(
        load_workbook(export(sqlite_url, tmp_path / "a.xlsx", date(2026, 11, 19)))["问题整改清单"]
    )
    on_24 = rows_by_code(
        load_workbook(export(sqlite_url, tmp_path / "b.xlsx", date(2026, 11, 24)))["问题整改清单"]
    )
    on_25 = rows_by_code(
        load_workbook(export(sqlite_url, tmp_path / "c.xlsx", date(2026, 11, 25)))["问题整改清单"]
    )
    assert before["ZG-2026-001"]["整改进展"] == "学习方案已起草，待党组会审议。"  # the register's own note
    assert on_24["ZG-2026-001"]["整改进展"] == "学习方案已审议"  # the owner's note of 11-20
    assert (on_24["ZG-2026-012"]["状态"], on_24["ZG-2026-012"]["完成情况"]) == ("待审核", None)
    assert (on_25["ZG-2026-012"]["状态"], on_25["ZG-2026-012"]["完成情况"]) == ("已销号", "已修订")
    assert on_25["ZG-2026-007"]["状态"] == "整改中"
    # before the import the register is empty but still a register
    empty = load_workbook(export(sqlite_url, tmp_path / "d.xlsx", date(2026, 11, 1)))["问题整改清单"]
    assert empty.max_row == HEAD and empty["A2"].value == "问题整改清单"


def test_deadlines_in_one_date_form(sqlite_url, tmp_path):
    demo_ledger(sqlite_url, tmp_path)
    ws = load_workbook(export(sqlite_url, tmp_path / "x.xlsx", date(2026, 11, 30)))["问题整改清单"]
    deadlines = {ws.cell(r, 9).value for r in range(HEAD + 1, ws.max_row + 1)}
    import re

    assert all(d == "长期坚持" or re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", d) for d in deadlines), deadlines
    assert "2026年11月20日" in deadlines  # written 2026/11/20 and 2026.11.20 in the register


def test_title_rows_fonts_and_print_setup(sqlite_url, tmp_path):
    demo_ledger(sqlite_url, tmp_path)
    office = Office(org_name="中共示范区经济发展局党组")
    wb = load_workbook(export(sqlite_url, tmp_path / "x.xlsx", date(2026, 11, 30), office))
    ws = wb["问题整改清单"]
    assert ws["A1"].value == "附件2" and ws["A2"].value == "问题整改清单"
    assert (
        ws["A3"].value == "填报单位：中共示范区经济发展局党组"
        and ws["G3"].value == "填报日期：2026年11月30日"
    )
    assert ws["A2"].font.name == "方正小标宋简体" and ws["A2"].font.sz >= 18
    body = ws.cell(HEAD + 1, 4)
    assert body.font.name == "宋体" and body.font.sz == 10.5 and body.alignment.wrap_text
    assert body.border.left.style == "thin" and ws.cell(HEAD, 1).border.bottom.style == "thin"
    assert ws.cell(HEAD + 1, 1).alignment.horizontal == "center"
    for sheet, orientation, title_rows in ((ws, "landscape", "$4:$4"), (wb["人员名单"], "portrait", "$1:$1")):
        assert sheet.page_setup.paperSize == 9 and sheet.page_setup.orientation == orientation
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToWidth in (None, 1)
        assert sheet.page_setup.fitToHeight == 0
        assert sheet.print_title_rows == title_rows
        assert "&P" in sheet.oddFooter.center.text and "&N" in sheet.oddFooter.center.text
    # every data row has a height fitted to its text: the long description of 001 over 2 rows
    heights = [ws.row_dimensions[r].height for r in range(HEAD + 1, ws.max_row + 1)]
    assert all(h and h >= 18 for h in heights)
    first_two = ws.row_dimensions[HEAD + 1].height + ws.row_dimensions[HEAD + 2].height
    assert first_two >= 3 * 14.5  # 43 characters in a 30-unit column: three lines at least
    assert wb.properties.creator == "中共示范区经济发展局党组"


def test_list_as_of_replays_the_day(sqlite_url, tmp_path):
    demo_ledger(sqlite_url, tmp_path)
    on = {}
    for day in ("2026-11-24", "2026-11-25"):
        result = sh(tmp_path, sqlite_url, "list", "--as-of", day, "--json")
        assert result.returncode == 0, result.stderr
        on[day] = {r["code"]: r for r in json.loads(result.stdout)}
    assert on["2026-11-24"]["ZG-2026-012"]["status_label"] == "待审核"
    assert on["2026-11-25"]["ZG-2026-012"]["status_label"] == "已销号"
    # overdue as of the day: 011 (due 11-25) not yet on 11-24
    assert not on["2026-11-24"]["ZG-2026-011"]["overdue"] and on["2026-11-24"]["ZG-2026-007"]["overdue"]
    before = sh(tmp_path, sqlite_url, "list", "--as-of", "2026-11-01")
    assert before.returncode == 0 and "没有符合条件的整改事项" in before.stdout
    closed = sh(tmp_path, sqlite_url, "list", "--as-of", "2026-11-24", "--status", "已销号")
    assert "没有符合条件的整改事项" in closed.stdout
