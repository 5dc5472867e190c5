"""`rectify list` / `show` answered by rectify.cli.lean print exactly what the typer commands
(rectify.queries) print, on a ledger with every kind of row those commands show: assigned,
progress notes, evidence, a rejected and an approved closure, a reopened item, 长期坚持, a done
measure, a pending and a decided extension, 定期报送 owed, lights of every colour. Also: what it
leaves to the typer app (errors, PostgreSQL, --as-of, .env) it leaves untouched, and the
console script's read commands load neither Prefect nor SQLAlchemy, pydantic or typer.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rectify.cli import app, lean, lean_args

RECTIFY = Path(sys.executable).parent / "rectify"
REG_DAY, TODAY = "2026-11-02", "2026-11-30"


@pytest.fixture
def seeded(tmp_path, monkeypatch, sqlite_url, settings_env) -> str:
    from demo.register import build

    monkeypatch.chdir(tmp_path)
    settings_env(sqlite_url, user="陈静", today=TODAY)
    runner = CliRunner()

    def run(*args: str) -> None:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.stdout + result.stderr

    register = build(tmp_path / "清单.xlsx")
    run("import", register.name, "--today", REG_DAY)
    code = "ZG-2026-012"
    run("assign", code, "--owner", "钱敏", "--department", "人事科", "--today", REG_DAY)
    run(
        "progress",
        code,
        "--note",
        "制度修订稿已完成",
        "--percent",
        "80",
        "--as",
        "钱敏",
        "--today",
        "2026-11-20",
    )
    (tmp_path / "制度.pdf").write_bytes(b"%PDF-1.4")
    run(
        "submit",
        code,
        "--summary",
        "已修订并印发",
        "--evidence",
        str(tmp_path / "制度.pdf"),
        "--complete",
        "1",
        "--complete",
        "2",
        "--as",
        "钱敏",
        "--today",
        "2026-11-25",
    )
    run("review", code, "--approve", "--comment", "同意", "--as", "吴海燕", "--today", "2026-11-25")
    run("review", code, "--reject", "--comment", "缺少印发文件", "--today", "2026-11-26")
    run("submit", code, "--summary", "补充印发文件", "--as", "钱敏", "--today", "2026-11-27")
    run("ongoing", "ZG-2026-001", "--comment", "常态化推进", "--today", "2026-11-03")
    for code, owner in (("ZG-2026-002", "孙丽"), ("ZG-2026-003", "刘洋"), ("ZG-2026-004", "孙丽")):
        run("assign", code, "--owner", owner, "--today", REG_DAY)
    run(
        "measure",
        "ZG-2026-002",
        "1",
        "--done",
        "--note",
        "已完成第一条",
        "--as",
        "孙丽",
        "--today",
        "2026-11-10",
    )
    run(
        "extend",
        "ZG-2026-003",
        "1",
        "--to",
        "2027-03-01",
        "--reason",
        "需跨年度推进",
        "--as",
        "刘洋",
        "--today",
        "2026-11-12",
    )
    run(
        "extend",
        "ZG-2026-004",
        "1",
        "--to",
        "2027-04-30",
        "--reason",
        "等待上级批复",
        "--as",
        "孙丽",
        "--today",
        "2026-11-12",
    )
    run("extend", "ZG-2026-004", "1", "--approve", "--comment", "同意", "--today", "2026-11-13")
    return sqlite_url


def typer_output(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    return result.exit_code, result.stdout


def lean_output(args: list[str]) -> str | None:
    out = io.StringIO()
    with redirect_stdout(out):
        answered = lean.answer(args)
    return out.getvalue() if answered else None


def test_lean_list_and_show_print_what_the_typer_commands_print(seeded):
    codes = [f"ZG-2026-{i:03d}" for i in range(1, 13)]
    cases = [
        ["list"],
        ["list", "--json"],
        ["list", "--overdue"],
        ["list", "--unreported", "--json"],
        ["list", "--status", "长期坚持"],
        ["list", "--status=in_progress", "--json"],
        ["list", "--owner", "孙丽"],
        ["list", "--leader", "郑永强", "--json"],
        ["list", "--owner", "无名氏"],
        ["list", "--owner", "无名氏", "--json"],
    ]
    for day in ("2026-11-02", TODAY, "2027-01-06", "2027-03-08"):
        cases += [[*args, "--today", day] for args in (["list"], ["list", "--json"])]
        cases += [["show", code, "--today", day] for code in codes]
        cases += [["show", code, "--json", "--today", day] for code in codes]
    seen = set()
    for args in cases:
        code, expected = typer_output(args)
        assert code == 0, args
        assert lean_output(args) == expected, args
        if "--json" in args and args[0] == "show":
            d = json.loads(expected)
            seen |= {
                d["light"],
                d["status"],
                bool(d["extensions"]),
                bool(d["progress"]),
                bool(d["evidence"]),
                d["unreported"],
                d["overdue"],
                *(m["done_on"] is not None for m in d["measures"]),
            }
    # the ledger shows what the comparison is meant to cover
    assert {"red", "yellow", "green", "ongoing", "in_progress", "new", "leader_review"} <= seen
    assert {True, False} <= seen


def test_lean_declines_what_the_typer_app_answers(seeded, monkeypatch, tmp_path):
    for args in (
        ["show", "ZG-404"],
        ["list", "--status", "nonsense"],
        ["list", "--as-of", "2026-11-20"],
        ["list", "--today", "2026-13-01"],
        ["list", "--today", "9999-12-20"],
        ["show"],
        ["list", "--help"],
        ["list", "--owner"],
        ["import", "x.xlsx"],
        [],
    ):
        assert lean_output(args) is None, args
    monkeypatch.setenv("RECTIFY_LIGHT_YELLOW_DAYS", "three")  # pydantic's error line, not a guess
    assert lean_output(["list"]) is None
    monkeypatch.setenv("RECTIFY_LIGHT_YELLOW_DAYS", "3")
    assert lean_output(["list"]) is not None
    (tmp_path / ".env").write_text("RECTIFY_LIGHT_YELLOW_DAYS=3\n")
    assert lean_output(["list"]) is None


def test_lean_reads_the_settings_pydantic_reads(seeded, monkeypatch):
    from rectify.settings import get_settings

    monkeypatch.setenv("RECTIFY_REMIND_BEFORE_DAYS", "[10, 2]")
    monkeypatch.setenv("RECTIFY_REPORTING", "weekly:3")
    monkeypatch.setenv("RECTIFY_SMTP_VALIDATE_CERTS", "false")
    monkeypatch.setenv("RECTIFY_SMTP_TIMEOUT", "12.5")
    get_settings.cache_clear()
    full, plain = get_settings(), lean_args.read_settings()
    for name in vars(plain):
        assert getattr(plain, name) == getattr(full, name), name
    for args in (["list", "--json"], ["show", "ZG-2026-003"]):
        assert lean_output(args) == typer_output(args)[1]


def test_the_console_script_answers_list_and_show_without_the_heavy_imports(seeded, tmp_path):
    """`rectify list`/`show` as a person runs them: the same output, and neither Prefect nor
    typer, SQLAlchemy or pydantic is loaded (they are what cost the 0.65 s, issue #13)."""
    probe = (
        "import sys; from rectify.cli import main; sys.argv = ['rectify', *sys.argv[1:]]; main(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'prefect', 'flows', 'tasks', 'sqlalchemy', 'pydantic', 'pydantic_settings', 'typer', 'click'}),"
        " file=sys.stderr)"
    )
    env = {k: v for k, v in os.environ.items()}
    for args in (["list", "--today", TODAY], ["show", "ZG-2026-012", "--json"]):
        result = subprocess.run(
            [sys.executable, "-c", probe, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr.strip().splitlines()[-1] == "[]"
        assert result.stdout == typer_output(args)[1]
    # the console script itself, and a read it declines (one Chinese line, no traceback)
    result = subprocess.run(
        [str(RECTIFY), "show", "ZG-404"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1 and result.stderr.strip() == "错误：没有编号为“ZG-404”的整改事项"


@pytest.mark.postgres
def test_on_postgres_the_console_script_prints_what_the_typer_commands_print(
    pg_migrated, tmp_path, monkeypatch, settings_env
):
    """PostgreSQL goes the typer way (lean declines): the console script's output is the same."""
    settings_env(pg_migrated, today=TODAY)
    assert lean_output(["list"]) is None
    monkeypatch.chdir(tmp_path)
    result = subprocess.run(
        [str(RECTIFY), "list", "--json"],
        cwd=tmp_path,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == typer_output(["list", "--json"])[1]
