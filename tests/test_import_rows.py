"""What a row means: formulas without results, rows that only look like continuation rows,
cells longer than the ledger's columns, and what a re-import may (not) change."""

from __future__ import annotations

import zipfile
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from ledger_helpers import dump
from models import AuditRecord, Item, Person, ProgressNote, Status
from models.db import session_factory
from rectify import workflow
from rectify.importer import ImportRejected
from register_helpers import LATER, PEOPLE, messy_items, run_import, write_xlsx


def _problems(url, path, **kw) -> list[str]:
    before = dump(url)
    with pytest.raises(ImportRejected) as exc:
        run_import(url, [path], **kw)
    assert dump(url) == before
    return [str(p) for p in exc.value.problems]


# --- defect 3: formulas without a cached result; rows that are not continuations ------------


def test_formula_cells_without_a_result_are_errors(db_url, tmp_path):
    path = write_xlsx(tmp_path / "f.xlsx", messy_items()[:2], merge=False)
    wb = load_workbook(path)
    ws = wb["问题整改清单"]
    # row 7 starts ZG-2026-002; its code and description are formulas openpyxl saves without a
    # value, exactly what data_only reads as None (the old importer merged it into 001).
    ws["A7"], ws["D7"] = '="ZG-2026-"&TEXT(ROW()-5,"000")', "=Sheet2!A1"
    wb.save(path)
    lines = _problems(db_url, path)
    assert any('第7行 序号“="ZG-2026-"&TEXT(ROW()-5,"000")”：公式没有保存计算结果' in x for x in lines), lines
    assert any("第7行 问题描述“=Sheet2!A1”：公式没有保存计算结果" in x for x in lines), lines


def test_formula_cells_with_a_saved_result_read_as_that_result(db_url, tmp_path):
    path = write_xlsx(tmp_path / "f.xlsx", messy_items()[:1])
    wb = load_workbook(path)
    wb["问题整改清单"]["K4"] = "=1+1"
    wb.save(path)
    # What Excel writes after calculating: the formula and its cached value.
    patched = tmp_path / "cached.xlsx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                assert b"<f>1+1</f><v></v>" in data
                data = data.replace(b"<f>1+1</f><v></v>", b"<f>1+1</f><v>2</v>")
            dst.writestr(info, data)
    run_import(db_url, [patched])
    with session_factory(db_url)() as s:
        assert s.scalars(select(Item.remark)).one() == "2"


@pytest.mark.parametrize(
    ("col", "value", "label"), [(8, "孙丽", "责任人"), (6, "吴海燕", "责任领导"), (3, "个人问题", "问题类别")]
)
def test_a_row_without_code_but_other_item_columns_is_not_merged(db_url, tmp_path, col, value, label):
    path = write_xlsx(tmp_path / "c.xlsx", messy_items()[:1], merge=False)
    wb = load_workbook(path)
    wb["问题整改清单"].cell(5, col, value)  # 2nd measure row of ZG-2026-001
    wb.save(path)
    lines = _problems(db_url, path)
    assert any(
        f"第5行 {label}“{value}”：序号为空，但与上一事项（ZG-2026-001）的{label}不同" in x for x in lines
    ), lines


def test_continuation_rows_repeating_the_item_columns_still_merge(db_url, tmp_path):
    path = write_xlsx(tmp_path / "c.xlsx", messy_items()[:1], merge=False)
    wb = load_workbook(path)
    wb["问题整改清单"].cell(5, 8, "刘洋")  # the same owner written again is the same problem
    wb.save(path)
    run_import(db_url, [path])
    with session_factory(db_url)() as s:
        assert len(s.scalars(select(Item)).one().measures) == 3


# --- defect 14: cell lengths are checked per cell, on both backends -------------------------


def test_cells_longer_than_the_ledger_columns_are_named(db_url, tmp_path):
    items, people = messy_items()[:2], [list(p) for p in PEOPLE]
    items[0]["category"] = "类" * 129
    items[1]["code"] = "Z" * 65
    items[1]["measures"][0] = ("措施", "年底前" + " " * 0 + "完成" * 31, None)
    people[1][1] = "职" * 129
    path = write_xlsx(tmp_path / "long.xlsx", items, people)
    lines = _problems(db_url, path)
    assert any("第4行 问题类别“" + "类" * 80 + "…”：过长（129个字符，最多128个）" in x for x in lines), lines
    assert any("第7行 序号" in x and "过长（65个字符，最多64个）" in x for x in lines), lines
    assert any("第7行 整改时限" in x and "过长（65个字符，最多64个）" in x for x in lines), lines
    assert any("[人员名单] 第3行 职务" in x and "过长（129个字符，最多128个）" in x for x in lines), lines


def test_long_owner_name_in_register_is_named(db_url, tmp_path):
    items = messy_items()[:1]
    items[0]["owner"] = "刘洋、" + "名" * 65
    lines = _problems(db_url, write_xlsx(tmp_path / "n.xlsx", items))
    assert any("第4行 责任人“" in x and "姓名过长（65个字符，最多64个）" in x for x in lines), lines


# --- defect 8: an unchanged register does not duplicate its progress note --------------------


def test_reimport_compares_with_the_registers_own_last_note(db_url, tmp_path):
    path = write_xlsx(tmp_path / "清单.xlsx", messy_items()[:1])  # 整改进展 “学习方案已起草。”
    run_import(db_url, [path])
    with session_factory(db_url)() as s, s.begin():
        people = {p.name: p for p in s.scalars(select(Person))}
        workflow.assign(s, "ZG-2026-001", people["陈静"], date(2026, 11, 3), owner=people["刘洋"])
        workflow.add_progress(s, "ZG-2026-001", people["刘洋"], date(2026, 11, 4), note="已召开学习会")
    before = dump(db_url)
    result = run_import(db_url, [path], day=date(2026, 12, 18), actor="陈静")
    assert result.unchanged == ["ZG-2026-001"] and result.updated == []
    assert dump(db_url) == before  # no second copy, no audit, last_progress_on stays 11-04
    with session_factory(db_url)() as s:
        assert s.scalars(select(Item.last_progress_on)).one() == date(2026, 11, 4)
        assert len(s.scalars(select(ProgressNote)).all()) == 2


# --- defect 19: 长期坚持 follows the measures on re-import -----------------------------------


def _status_audit(url, code):
    with session_factory(url)() as s:
        item = s.scalars(select(Item).where(Item.code == code)).one()
        last = s.scalars(
            select(AuditRecord).where(AuditRecord.item_id == item.id).order_by(AuditRecord.id.desc())
        ).first()
        return item.status, (
            last.action,
            last.actor,
            last.from_status,
            last.to_status,
            last.details["changes"].get("status"),
        )


def _with_measures(measures):
    items = messy_items()
    items[7]["measures"] = measures  # ZG-2026-008, imported as 长期坚持
    return items


def test_ongoing_item_given_a_dated_measure_goes_back_to_new(db_url, tmp_path):
    run_import(db_url, [write_xlsx(tmp_path / "a.xlsx", messy_items())])
    dated = _with_measures([("每月走访企业2家", "2027-03-31", date(2027, 3, 31))])
    result = run_import(db_url, [write_xlsx(tmp_path / "b.xlsx", dated)], day=LATER, actor="陈静")
    assert result.updated == ["ZG-2026-008"]
    assert _status_audit(db_url, "ZG-2026-008") == (
        Status.new,
        ("update", "陈静", "ongoing", "new", ["ongoing", "new"]),
    )


def test_assigned_item_marked_ongoing_goes_back_to_in_progress(db_url, tmp_path):
    run_import(db_url, [write_xlsx(tmp_path / "a.xlsx", messy_items())])
    with session_factory(db_url)() as s, s.begin():
        people = {p.name: p for p in s.scalars(select(Person))}
        workflow.assign(s, "ZG-2026-001", people["陈静"], date(2026, 11, 3), owner=people["刘洋"])
        workflow.mark_ongoing(s, "ZG-2026-001", people["陈静"], date(2026, 11, 4))
    items = messy_items()  # ZG-2026-001 still has dated measures in the sheet
    items[0]["measures"] = items[0]["measures"][:2] + [("新增措施", "2027-01-31", date(2027, 1, 31))]
    run_import(db_url, [write_xlsx(tmp_path / "b.xlsx", items)], day=LATER, actor="陈静")
    assert _status_audit(db_url, "ZG-2026-001") == (
        Status.in_progress,
        ("update", "陈静", "ongoing", "in_progress", ["ongoing", "in_progress"]),
    )


def test_open_item_whose_measures_all_become_ongoing_is_marked_ongoing(db_url, tmp_path):
    run_import(db_url, [write_xlsx(tmp_path / "a.xlsx", messy_items())])
    items = messy_items()
    items[4]["measures"] = [("制定个人学习计划", "长期坚持", None)]  # ZG-2026-005, 待交办
    run_import(db_url, [write_xlsx(tmp_path / "b.xlsx", items)], day=LATER, actor="陈静")
    assert _status_audit(db_url, "ZG-2026-005") == (
        Status.ongoing,
        ("update", "陈静", "new", "ongoing", ["new", "ongoing"]),
    )
    with session_factory(db_url)() as s:
        assert s.scalars(select(Item.deadline).where(Item.code == "ZG-2026-005")).one() is None
