"""Re-import after assignment (rectify.reimport) and the register column 汇报频次, on SQLite and
PostgreSQL: the register wins only where it changed since the last import; a conflict keeps
the ledger's value, says so in a 提示 line and is audited."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from sqlalchemy import select

from ledger_helpers import dump
from models import AuditRecord, Item
from models.db import session_factory
from rectify import workflow
from rectify.importer import ImportRejected
from register_helpers import HEAD, PEOPLE, PEOPLE_HEAD, messy_items, register_rows, run_import, write_csv

LATER = date(2026, 11, 20)


def write(tmp_path, items, reporting=None, name="register.csv"):
    header = HEAD + (["汇报频次"] if reporting is not None else [])
    rows = register_rows(items)
    if reporting is not None:  # one value per item, on its first row
        codes = iter(reporting)
        rows = [r + ([next(codes)] if r[0] else [None]) for r in rows]
    return write_csv(tmp_path / name, header, rows)


def people(tmp_path):
    return write_csv(tmp_path / "people.csv", PEOPLE_HEAD, PEOPLE)


def item_of(url, code) -> Item:
    with session_factory(url)() as s:
        return s.scalar(select(Item).where(Item.code == code))


def names(url, code) -> tuple:
    with session_factory(url)() as s:
        it = s.scalar(select(Item).where(Item.code == code))
        return (it.owner.name if it.owner else None, it.leader.name if it.leader else None, it.department)


def assign(url, code, owner, leader=None, department=None, day=LATER):
    with session_factory(url)() as s, s.begin():
        get = lambda n: workflow.get_person(s, n) if n else None  # noqa: E731
        workflow.assign(
            s, code, get("陈静"), day, owner=get(owner), leader=get(leader), department=department
        )


def test_three_way_reimport(db_url, tmp_path, caplog):
    items = messy_items()[:3]  # 001 刘洋/周建国, 002 and 003 as the sheet says
    run_import(db_url, [write(tmp_path, items), people(tmp_path)], actor="陈静")
    base = {c: names(db_url, c) for c in ("ZG-2026-001", "ZG-2026-002", "ZG-2026-003")}
    # The secretary re-assigns 001 (owner) and 002 (owner, leader, department) on the CLI.
    assign(db_url, "ZG-2026-001", "孙丽")
    assign(db_url, "ZG-2026-002", "孙丽", "郑永强", "新部门")

    # The same register again: nothing it says changed, so every assignment stands.
    result = run_import(db_url, [write(tmp_path, items)], day=LATER, actor="陈静")
    assert names(db_url, "ZG-2026-001")[0] == "孙丽"
    assert names(db_url, "ZG-2026-002") == ("孙丽", "郑永强", "新部门")
    assert result.conflicts == [] and "ZG-2026-001" in result.unchanged

    # The register changes: 001's owner differently (conflict), 002's leader to what the
    # ledger already has (agreement), 003's department where the ledger kept the base (wins).
    items[0]["owner"] = "王芳"
    items[1]["leader"] = "郑永强"
    items[2]["department"] = "企业服务科"
    before = {c: item_of(db_url, c).id for c in base}
    with caplog.at_level(logging.WARNING, logger="rectify"):
        result = run_import(db_url, [write(tmp_path, items)], day=LATER, actor="陈静")
    assert names(db_url, "ZG-2026-001")[0] == "孙丽"  # conflict: ledger kept
    assert names(db_url, "ZG-2026-002") == ("孙丽", "郑永强", "新部门")
    assert names(db_url, "ZG-2026-003")[2] == "企业服务科"  # register wins
    assert result.conflicts == [
        {"code": "ZG-2026-001", "field": "责任人", "base": "刘洋", "register": "王芳", "ledger": "孙丽"}
    ]
    said = [r.getMessage() for r in caplog.records if "保留台账" in r.getMessage()]
    assert said == [
        "ZG-2026-001 的责任人：整改清单由“刘洋”改为“王芳”，但台账中已调整为“孙丽”，"
        "保留台账中的“孙丽”（如需采用整改清单的值，请用 rectify assign 调整）"
    ]
    with session_factory(db_url)() as s:
        audits = s.scalars(select(AuditRecord).where(AuditRecord.action == "import_conflict")).all()
        assert [(a.item_id, a.details["field"], a.details["ledger"]) for a in audits] == [
            (before["ZG-2026-001"], "责任人", "孙丽")
        ]
    # Reported once: the register's new value is now the base.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rectify"):
        again = run_import(db_url, [write(tmp_path, items)], day=LATER, actor="陈静")
    assert again.conflicts == [] and not [r for r in caplog.records if "保留台账" in r.getMessage()]
    assert names(db_url, "ZG-2026-001")[0] == "孙丽"
    # The register changes once more, the ledger still as assigned: a conflict again (both
    # moved away from the base 王芳); the ledger is never overwritten silently.
    items[0]["owner"] = "刘洋"
    assert (
        run_import(db_url, [write(tmp_path, items)], day=LATER, actor="陈静").conflicts[0]["register"]
        == "刘洋"
    )


def test_unassigned_item_follows_the_register(db_url, tmp_path):
    items = messy_items()[:1]
    run_import(db_url, [write(tmp_path, items), people(tmp_path)], actor="陈静")
    items[0]["owner"], items[0]["leader"] = "孙丽", "吴海燕"
    result = run_import(db_url, [write(tmp_path, items)], day=LATER, actor="陈静")
    assert names(db_url, "ZG-2026-001")[:2] == ("孙丽", "吴海燕") and result.conflicts == []
    assert item_of(db_url, "ZG-2026-001").imported["department"] == items[0]["department"]


def test_reporting_column(db_url, tmp_path):
    items = messy_items()[:3]
    run_import(db_url, [write(tmp_path, items, ["每周", "每季度", ""]), people(tmp_path)], actor="陈静")
    assert [item_of(db_url, c).reporting for c in ("ZG-2026-001", "ZG-2026-002", "ZG-2026-003")] == [
        "weekly",
        "quarterly",
        None,
    ]
    result = run_import(db_url, [write(tmp_path, items, ["每月", "每季度", ""])], day=LATER, actor="陈静")
    assert result.updated == ["ZG-2026-001"] and item_of(db_url, "ZG-2026-001").reporting == "monthly"
    with session_factory(db_url)() as s:
        rec = s.scalars(select(AuditRecord).where(AuditRecord.action == "update")).all()[-1]
        assert rec.details["changes"]["reporting"] == ["weekly", "monthly"]


def test_unknown_reporting_word_refuses_the_whole_file(db_url, tmp_path):
    items = messy_items()[:2]
    run_import(db_url, [write(tmp_path, items), people(tmp_path)], actor="陈静")
    before = dump(db_url)
    with pytest.raises(ImportRejected) as exc:
        run_import(db_url, [write(tmp_path, items, ["每月", "每天"])], day=LATER, actor="陈静")
    assert dump(db_url) == before
    assert any(
        p.column == "汇报频次" and p.value == "每天" and "汇报频次无法识别" in p.message
        for p in exc.value.problems
    )


def test_conflict_on_the_command_line(db_url, tmp_path, settings_env, monkeypatch):
    from typer.testing import CliRunner

    from rectify.cli import app

    monkeypatch.chdir(tmp_path)
    settings_env(db_url, user="陈静", today="2026-11-30")
    runner = CliRunner()
    items = messy_items()[:1]
    first = write(tmp_path, items, name="first.csv")
    assert (
        runner.invoke(app, ["import", str(first), str(people(tmp_path)), "--today", "2026-11-02"]).exit_code
        == 0
    )
    assert (
        runner.invoke(app, ["assign", "ZG-2026-001", "--owner", "孙丽", "--today", "2026-11-02"]).exit_code
        == 0
    )
    items[0]["owner"] = "王芳"
    second = write(tmp_path, items, name="second.csv")
    # setup_logging binds its 提示 handler to the stderr of the first command in this process;
    # CliRunner gives each invocation its own stderr, so let this one install its own.
    monkeypatch.setattr(logging.getLogger("rectify"), "handlers", [])
    out = runner.invoke(app, ["import", str(second), "--json"])
    assert out.exit_code == 0, out.output
    assert __import__("json").loads(out.stdout)["conflicts"] == [
        {"code": "ZG-2026-001", "field": "责任人", "base": "刘洋", "register": "王芳", "ledger": "孙丽"}
    ]
    assert "提示：ZG-2026-001 的责任人：整改清单由“刘洋”改为“王芳”" in out.stderr
    assert names(db_url, "ZG-2026-001")[0] == "孙丽"
    items[0]["owner"] = "郑永强"
    out = runner.invoke(app, ["import", str(write(tmp_path, items, name="third.csv"))])
    assert "导入冲突1处" in out.stdout and out.exit_code == 0
