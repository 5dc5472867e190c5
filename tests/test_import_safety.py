"""Untrusted register files: who may import, what a file may change about people, hidden
sheets, zip bombs and oversized cells, and failures that must read as one Chinese line."""

from __future__ import annotations

import logging
import zipfile
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from ledger_helpers import dump
from models import Item, Person, Role
from models.db import session_factory
from rectify import sheets
from rectify.errors import Forbidden, RectifyError
from register_helpers import (
    DAY,
    LATER,
    PEOPLE,
    PEOPLE_HEAD,
    HEAD,
    messy_items,
    register_rows,
    run_import,
    write_csv,
    write_xlsx,
)
from import_cli_helpers import _cli, _one_error_line


def _people_csv(tmp_path, rows, name="p.csv"):
    return write_csv(tmp_path / name, PEOPLE_HEAD, rows)


@pytest.fixture
def seeded(db_url, tmp_path):
    """陈静 and 王芳 are the ledger's secretaries, 刘洋 an owner."""
    run_import(db_url, [write_xlsx(tmp_path / "first.xlsx", messy_items())])
    return db_url


def _roles(url):
    with session_factory(url)() as s:
        return {p.name: (p.role, p.email) for p in s.scalars(select(Person))}


# --- defect 1: a file cannot grant its importer the secretary's role ------------------------


def test_a_people_sheet_cannot_make_its_importer_a_secretary(seeded, tmp_path):
    before = dump(seeded)
    forged = _people_csv(
        tmp_path,
        [
            ["冒名者", "", "", "fake@evil.example.com", "秘书"],
            ["刘洋", "", "", "liuyang@evil.example.com", "秘书"],
        ],
    )
    with pytest.raises(Forbidden, match="没有“冒名者”"):
        run_import(seeded, [forged], day=LATER, actor="冒名者")
    # an owner already in the ledger cannot promote himself either
    with pytest.raises(Forbidden, match="刘洋（责任人）无权导入"):
        run_import(seeded, [forged], day=LATER, actor="刘洋")
    assert dump(seeded) == before


def test_a_secretary_import_reports_role_and_email_changes(seeded, tmp_path, caplog):
    sheet = _people_csv(tmp_path, [["刘洋", "综合科科长", "综合科", "liuyang@new.example.gov.cn", "秘书"]])
    with caplog.at_level(logging.WARNING, logger="rectify.importer"):
        result = run_import(seeded, [sheet], day=LATER, actor="陈静")
    assert result.people_updated == ["刘洋"]
    assert result.people_changes == {
        "刘洋": {
            "email": ["liuyang@xxj.example.gov.cn", "liuyang@new.example.gov.cn"],
            "role": ["责任人", "秘书"],
        }
    }
    assert result.as_dict()["people_changes"] == result.people_changes
    said = [r.getMessage() for r in caplog.records]
    assert "人员“刘洋”的角色由“责任人”改为“秘书”" in said
    assert "人员“刘洋”的邮箱由“liuyang@xxj.example.gov.cn”改为“liuyang@new.example.gov.cn”" in said
    assert _roles(seeded)["刘洋"] == (Role.secretary, "liuyang@new.example.gov.cn")


def test_an_import_may_not_remove_the_last_secretary(seeded, tmp_path):
    before = dump(seeded)
    sheet = _people_csv(
        tmp_path,
        [
            ["陈静", "", "", "chenjing@xxj.example.gov.cn", "责任人"],
            ["王芳", "", "", "wangfang@xxj.example.gov.cn", "owner"],
        ],
    )
    with pytest.raises(Forbidden, match="至少保留一名秘书"):
        run_import(seeded, [sheet], day=LATER, actor="陈静")
    assert dump(seeded) == before
    # one of two may step down
    run_import(
        seeded,
        [_people_csv(tmp_path, [["王芳", "", "", "wangfang@xxj.example.gov.cn", "owner"]], "q.csv")],
        day=LATER,
        actor="陈静",
    )
    assert _roles(seeded)["王芳"][0] is Role.owner


def test_an_empty_ledger_bootstraps_only_with_a_secretary_from_the_sheet(db_url, tmp_path):
    path = write_xlsx(tmp_path / "清单.xlsx", messy_items())
    before = dump(db_url)
    with pytest.raises(Forbidden, match="刘洋（责任人）无权导入"):
        run_import(db_url, [path], actor="刘洋")
    assert dump(db_url) == before
    run_import(db_url, [path], actor="陈静")  # what demo/run_demo.py does with RECTIFY_USER=陈静
    assert _roles(db_url)["陈静"][0] is Role.secretary


# --- defect 2: hidden sheets are not read ---------------------------------------------------


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
def test_hidden_sheets_are_skipped_and_said(db_url, tmp_path, caplog, state):
    path = write_xlsx(tmp_path / "清单.xlsx", messy_items()[:2])
    wb = load_workbook(path)
    ws = wb.create_sheet("旧清单")
    ws.append(HEAD)
    ws.append(
        [
            "ZG-HIDDEN",
            "对照检查",
            "班子问题",
            "藏起来的问题",
            "措施",
            "周建国",
            "办公室",
            "刘洋",
            "2026-12-31",
            "",
            "",
        ]
    )
    ws.sheet_state = state
    wb.save(path)
    with caplog.at_level(logging.WARNING, logger="rectify.importer"):
        result = run_import(db_url, [path])
    assert result.created == ["ZG-2026-001", "ZG-2026-002"]
    assert result.skipped_sheets == ["清单.xlsx[旧清单]"]
    assert any("已跳过隐藏的工作表 清单.xlsx[旧清单]" in r.getMessage() for r in caplog.records)
    with session_factory(db_url)() as s:
        assert s.scalars(select(Item.code).where(Item.code == "ZG-HIDDEN")).first() is None


# --- defect 13: zip bombs and oversized sheets are refused before inflating -----------------


def test_zip_bomb_is_refused_before_openpyxl_inflates_it(sqlite_url, tmp_path):
    path = write_xlsx(tmp_path / "bomb.xlsx", messy_items()[:1])
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/media/padding.bin", b"\0" * (sheets.MAX_UNCOMPRESSED + 1))
    assert path.stat().st_size < 2 * 2**20
    before = dump(sqlite_url)
    with pytest.raises(RectifyError, match=r"bomb\.xlsx 解压后达 100 MB，超过上限 100 MB"):
        run_import(sqlite_url, [path])
    assert dump(sqlite_url) == before


def test_too_many_cells_are_refused(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setattr(sheets, "MAX_CELLS", 1000)  # the limit, not the reader, is lowered
    wb = Workbook()
    for r in range(40):
        wb.active.append([r * 100 + c for c in range(30)])
    wb.save(tmp_path / "wide.xlsx")
    with pytest.raises(RectifyError, match="单元格超过 1000 个"):
        run_import(sqlite_url, [tmp_path / "wide.xlsx"])


def test_far_stray_cells_do_not_grow_the_grid(sqlite_url, tmp_path):
    path = write_xlsx(tmp_path / "清单.xlsx", messy_items()[:1])
    wb = load_workbook(path)
    ws = wb["问题整改清单"]
    ws.cell(row=1_000_000, column=1).number_format = "@"  # formatted, empty: Excel does this
    ws.cell(row=5, column=1011, value="页边备注")  # beyond the columns a register uses
    wb.save(path)
    got = {s.source: s.rows for s in sheets.read_sheets(path)}["清单.xlsx[问题整改清单]"]
    assert len(got) == 6 and max(len(r) for _, r in got) <= sheets.MAX_COLUMNS  # titles, header, 3 measures
    assert run_import(sqlite_url, [path]).created == ["ZG-2026-001"]


# --- defect 12: failures that used to be tracebacks -----------------------------------------


def test_oversized_csv_cell_is_one_line(db_url, tmp_path):
    rows = register_rows(messy_items()[:2])
    rows[1][3] = "长" * (sheets.CSV_FIELD_LIMIT + 1)
    path = write_csv(tmp_path / "清单.csv", HEAD, rows)
    with pytest.raises(RectifyError, match=r"^清单\.csv 第3行：单元格超过 128 KB（常见原因是引号不配对）$"):
        run_import(db_url, [path])


def test_unbalanced_quote_in_csv_is_named(sqlite_url, tmp_path):
    path = tmp_path / "清单.csv"
    path.write_text(
        ",".join(HEAD) + '\nZG-1,"来源,类别\n' + "x" * (sheets.CSV_FIELD_LIMIT + 10) + "\n", encoding="utf-8"
    )
    with pytest.raises(RectifyError, match="第2行：单元格超过 128 KB"):
        run_import(sqlite_url, [path])


@pytest.mark.parametrize("kind", ["missing", "malformed"])
def test_bad_calendar_override_is_one_line_on_import(sqlite_url, settings_env, tmp_path, monkeypatch, kind):
    override = tmp_path / "calendar.json"
    if kind == "malformed":
        override.write_text('{"2027": {"holidays": ["2027-02-30"]}}', encoding="utf-8")
    settings_env(sqlite_url, calendar_override=str(override))
    monkeypatch.chdir(tmp_path)
    path = write_xlsx(tmp_path / "清单.xlsx", messy_items()[:1])
    line = _one_error_line(_cli(["import", str(path), "--today", DAY.isoformat()]))
    assert line.startswith(f"错误：日历覆盖文件 {override.resolve()} 有误")


def test_oversized_csv_cell_is_one_line_on_the_command_line(sqlite_url, settings_env, tmp_path, monkeypatch):
    settings_env(sqlite_url)
    monkeypatch.chdir(tmp_path)
    rows = register_rows(messy_items()[:1])
    rows[0][10] = "备" * (sheets.CSV_FIELD_LIMIT + 1)
    path = write_csv(tmp_path / "清单.csv", HEAD, rows)
    line = _one_error_line(
        _cli(
            [
                "import",
                str(path),
                str(write_csv(tmp_path / "人员.csv", PEOPLE_HEAD, PEOPLE)),
                "--today",
                date(2026, 11, 2).isoformat(),
            ]
        )
    )
    assert line == "错误：清单.csv 第2行：单元格超过 128 KB（常见原因是引号不配对）"
