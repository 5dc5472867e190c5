"""The report's edge cases, apart from tests/test_report.py's figures and formats: text that looks
like a formula in the Excel export, characters Excel cannot hold, when 整改率 is 100%, heading
numbers, a report with 120 leader groups, working days overdue on a weekend.
"""

from __future__ import annotations

import shutil
from datetime import date

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import select, update

from ledger_helpers import add_item, add_people
from models import Item, Status
from models.db import session_factory
from rectify import workflow
from rectify.importer import import_register
from rectify.report import compile_report
from rectify.report.docx import build_docx
from rectify.report.export import write_register_xlsx
from rectify.report.contents import ItemLine, LeaderGroup, Report, Tally
from rectify.report.wording import percent
from rectify.report.render import cn_number, render_html, render_markdown
from report_helpers import CAL, REGISTER_DAY


# --- the Excel export ----------------------------------------------------------------

FORMULAS = ["=1+1", '=HYPERLINK("http://evil.example/","点此")', "=cmd|' /C calc'!A0", "#N/A", "#DIV/0!"]


def _ledger_with(url: str, descriptions: list[str]) -> None:
    with session_factory(url).begin() as s:
        p = add_people(s)
        for n, text in enumerate(descriptions, 1):
            item = add_item(s, f"ZG-{n}", Status.in_progress, owner=p["刘洋"], leader=p["周建国"])
            item.description = text
            workflow.record(s, item, "陈静", REGISTER_DAY, "import", None, Status.in_progress)
        s.flush()


def test_text_that_looks_like_a_formula_is_exported_as_text_and_reimports(db_url, sqlite_template, tmp_path):
    _ledger_with(db_url, FORMULAS)
    path = tmp_path / "export.xlsx"
    with session_factory(db_url)() as s:
        write_register_xlsx(s, path)
    ws = load_workbook(path)["问题整改清单"]
    cells = {ws.cell(r, 1).value: ws.cell(r, 4) for r in range(3, ws.max_row + 1)}
    for n, text in enumerate(FORMULAS, 1):
        cell = cells[f"ZG-{n}"]
        assert (cell.value, cell.data_type) == (text, "s")
    # Read back the way the importer reads (cached values): the same text, not an empty cell.
    empty = tmp_path / "empty.db"
    shutil.copy(sqlite_template, empty)
    url = f"sqlite:///{empty}"
    with session_factory(url)() as s, s.begin():
        result = import_register(s, [path], day=date(2026, 11, 30), calendar=CAL)
    assert sorted(result.created) == [f"ZG-{n}" for n in range(1, len(FORMULAS) + 1)]
    with session_factory(url)() as s:
        got = dict(s.execute(select(Item.code, Item.description)).all())
    assert got == {f"ZG-{n}": text for n, text in enumerate(FORMULAS, 1)}


def test_characters_excel_cannot_hold_are_dropped_not_fatal(sqlite_url, tmp_path):
    """Stored before the domain refused them (or by another program): the weekly report must
    still be written."""
    _ledger_with(sqlite_url, ["问题\x1b[31m描述\x00\x07", "第一行\n\t第二行"])
    with session_factory(sqlite_url).begin() as s:
        s.execute(update(Item).where(Item.code == "ZG-1").values(remark="备\x0b注"))
    path = tmp_path / "export.xlsx"
    with session_factory(sqlite_url)() as s:
        write_register_xlsx(s, path)
    ws = load_workbook(path)["问题整改清单"]
    rows = {ws.cell(r, 1).value: [c.value for c in ws[r]] for r in range(3, ws.max_row + 1)}
    assert rows["ZG-1"][3] == "问题[31m描述" and rows["ZG-1"][11] == "备注"
    assert rows["ZG-2"][3] == "第一行\n\t第二行"


# --- 整改率 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "closed,total,label",
    [
        (9999, 10000, "99.9%"),
        (19999, 20000, "99.9%"),
        (10000, 10000, "100%"),
        (1, 10000, "0.1%"),
        (0, 10000, "0%"),
        (22, 25, "88%"),
        (1, 12, "8.3%"),
        (2, 3, "66.7%"),
        (1, 8, "12.5%"),
    ],
)
def test_rate_is_100_percent_only_when_everything_is_closed(closed, total, label):
    assert Tally("合计", total=total, closed=closed).rate_label == label
    assert percent(closed / total) == label


# --- heading numbers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "n,text",
    [
        (1, "一"),
        (10, "十"),
        (11, "十一"),
        (20, "二十"),
        (99, "九十九"),
        (100, "一百"),
        (101, "一百零一"),
        (110, "一百一十"),
        (119, "一百一十九"),
        (1000, "一千"),
        (1010, "一千零一十"),
        (9999, "九千九百九十九"),
    ],
)
def test_cn_number(n, text):
    assert cn_number(n) == text


def _many_leaders(n: int) -> Report:
    def line(k: int) -> ItemLine:
        return ItemLine(
            k,
            f"ZG-{k:04d}",
            "对照检查",
            "班子问题",
            f"问题{k}",
            "办公室",
            f"领导{k:03d}",
            "刘洋",
            Status.in_progress,
            date(2026, 12, 31),
            date(2026, 11, 2),
        )

    groups = [LeaderGroup(f"领导{k:03d}", [line(k)]) for k in range(1, n + 1)]
    summary = Tally("合计", total=n, in_progress=n)
    return Report(
        as_of=date(2026, 11, 30),
        stalled_after_days=30,
        summary=summary,
        categories=[Tally("班子问题", total=n, in_progress=n)],
        measure_count=0,
        leader_count=n,
        breakdowns=[],
        overdue=[],
        stalled=[],
        next_steps=groups,
    )


def test_a_report_with_120_leader_groups_renders_in_every_format(tmp_path):
    report = _many_leaders(120)
    md, html = render_markdown(report), render_html(report)
    path = tmp_path / "r.docx"
    build_docx(report).save(path)
    headings = [p.text for p in Document(str(path)).paragraphs if p.style.name == "Heading 2"]
    for text in (md, html, "\n".join(headings)):
        assert "（一百）领导100同志牵头的问题" in text
        assert "（一百一十）领导110同志牵头的问题" in text
        assert "（一百二十）领导120同志牵头的问题" in text
        assert "十十" not in text


# --- working days overdue ---------------------------------------------------------------


def test_overdue_on_a_weekend_counts_no_working_day_yet(db_url):
    """Deadline Friday 11-27: on Saturday the item is overdue (deadline before the date, as in
    `rectify list --overdue`) but 0 working days late; on Monday 1."""
    with session_factory(db_url).begin() as s:
        p = add_people(s)
        item = add_item(
            s, "ZG-1", Status.in_progress, owner=p["刘洋"], leader=p["周建国"], deadline=date(2026, 11, 27)
        )
        workflow.record(s, item, "陈静", REGISTER_DAY, "import", None, Status.in_progress)
    with session_factory(db_url)() as s:
        for as_of, days in ((date(2026, 11, 28), 0), (date(2026, 11, 29), 0), (date(2026, 11, 30), 1)):
            r = compile_report(s, as_of, CAL)
            (line,) = r.overdue
            assert (line.code, line.overdue, line.overdue_workdays) == ("ZG-1", True, days)
            assert r.summary.overdue == 1
            row = next(l for l in render_markdown(r).splitlines() if l.startswith("| 1 | ZG-1 |"))
            label = "已逾期" + (f"{days}个工作日" if days else "")  # never "已逾期0个工作日"
            assert row.rstrip().endswith(f"| {label} |")
        assert compile_report(s, date(2026, 11, 27), CAL).overdue == []  # the deadline day itself
