"""What a person sees when the `rectify` command line refuses or fails: one `错误：` line on
stderr, a non-zero exit, never a traceback, checked through real subprocesses of
.venv/bin/rectify on a copy of the demo ledger. Bad input, a rejected import, the --today
window and backdating, control characters in notes, and failures that must stay one Chinese
line (a bad database URL, a `remind` or `report` run that fails against the Prefect harness's
API). The happy path is in test_cli.py.
"""

from __future__ import annotations

import itertools
import shutil
from datetime import date
from pathlib import Path

import pytest
import typer

from ledger_helpers import assert_one_error, dump, sh
from ledger_helpers import TODAY as TODAY_DATE
from models.db import get_engine
from rectify.cli.common import errors
from smtp_servers import ScriptedHandler, plain_server

TODAY = TODAY_DATE.isoformat()


@pytest.fixture(scope="session")
def demo_ledger_template(tmp_path_factory, sqlite_template) -> Path:
    """The demo register imported once (in-process); copied for every error test."""
    from demo.register import build
    from models.db import session_factory
    from rectify.importer import import_register
    from rectify.workdays import get_calendar

    folder = tmp_path_factory.mktemp("demo-ledger")
    shutil.copy(sqlite_template, folder / "ledger.db")
    build(folder / "demo.xlsx")
    url = f"sqlite:///{folder / 'ledger.db'}"
    with session_factory(url).begin() as s:
        import_register(
            s, [folder / "demo.xlsx"], day=date(2026, 11, 2), calendar=get_calendar(None), actor="陈静"
        )
    get_engine(url).dispose()
    return folder


@pytest.fixture
def ledger_dir(tmp_path, demo_ledger_template):
    for name in ("ledger.db", "demo.xlsx"):
        shutil.copy(demo_ledger_template / name, tmp_path / name)
    return tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}"


BAD_COMMANDS = [
    (["show", "ZG-404"], "没有编号为“ZG-404”"),
    (["list", "--today", "2026-13-01"], "格式不正确"),
    (["list", "--status", "done"], "未知的状态"),
    (["assign", "ZG-2026-001", "--owner", "刘洋", "--as", "刘洋"], "无权交办"),
    (["review", "ZG-2026-001", "--approve", "--comment", "同意", "--as", "陈静"], "不能审核通过"),
    (["review", "ZG-2026-001", "--comment", "同意", "--as", "陈静"], "--approve"),
    (["progress", "ZG-2026-001", "--note", "x", "--as", "孙丽"], "不是事项"),
    (["reopen", "ZG-2026-001", "--reason", "x", "--as", "无名氏"], "人员名单中没有“无名氏”"),
    (["submit", "ZG-2026-001", "--summary", "完成"], "未指定操作人"),
    (["import", "missing.xlsx", "--as", "陈静"], "文件不存在"),
    (["import", "demo.xlsx", "--as", "刘洋"], "无权导入"),
]


@pytest.mark.parametrize(
    "args,message", BAD_COMMANDS, ids=[f"{a[0]}-{i}" for i, (a, _) in enumerate(BAD_COMMANDS)]
)
def test_bad_input_is_one_line(ledger_dir, args, message):
    cwd, url = ledger_dir
    before = dump(url)
    line = assert_one_error(sh(cwd, url, *args))
    assert message in line
    assert dump(url) == before


def test_uninitialised_ledger(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    for args in (["list"], ["assign", "ZG-1", "--owner", "x", "--as", "y"]):
        assert "请先运行 rectify init" in assert_one_error(sh(tmp_path, url, *args))


def test_rejected_import_lists_every_problem(ledger_dir):
    cwd, url = ledger_dir
    (cwd / "bad.csv").write_text(
        "序号,问题描述,整改措施,责任领导,责任人,整改时限\n"
        "ZG-1,问题一,措施一,周建国,李四,2026-12-31\n"
        "ZG-2,问题二,措施二,周建国,刘洋,尽快\n"
        "ZG-1,问题三,措施三,周建国,刘洋,年底前\n",
        encoding="utf-8",
    )
    before = dump(url)
    result = sh(cwd, url, "import", "bad.csv", "--as", "陈静", "--today", TODAY)
    line = assert_one_error(result, problem_lines=3)
    assert "发现3处问题" in line
    problems = result.stderr.splitlines()[:3]
    assert any("第2行 责任人“李四”" in p for p in problems)
    assert any("第3行 整改时限“尽快”" in p for p in problems)
    assert any("第4行 序号“ZG-1”" in p for p in problems)
    assert dump(url) == before


def test_unreadable_file_and_wrong_type(ledger_dir):
    cwd, url = ledger_dir
    (cwd / "broken.xlsx").write_bytes(b"not a zip")
    assert "无法读取" in assert_one_error(sh(cwd, url, "import", "broken.xlsx", "--as", "陈静"))
    (cwd / "notes.docx").write_bytes(b"x")
    assert "不支持的文件类型" in assert_one_error(sh(cwd, url, "import", "notes.docx", "--as", "陈静"))


# --- --today ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--today", "9999-12-31"],
        ["list", "--today", "0001-01-01"],
        ["import", "demo.xlsx", "--as", "陈静", "--today", "9999-12-20"],  # was: ValueError year 10000
        ["progress", "ZG-2026-001", "--note", "x", "--as", "赵磊", "--today", "2100-01-01"],
    ],
    ids=lambda a: f"{a[0]}-{a[-1]}",
)
def test_a_day_outside_2000_2099_is_one_line(ledger_dir, args):
    cwd, url = ledger_dir
    before = dump(url)
    line = assert_one_error(sh(cwd, url, *args))
    assert "超出有效范围" in line and "2000-01-01" in line and "2099-12-31" in line
    assert dump(url) == before


def test_backdating_a_decision_is_one_line(ledger_dir):
    cwd, url = ledger_dir
    code = "ZG-2026-012"
    for args in (
        ["assign", code, "--owner", "钱敏", "--as", "陈静", "--today", "2026-11-02"],
        [
            "submit",
            code,
            "--summary",
            "已修订",
            "--complete",
            "1",
            "--complete",
            "2",
            "--as",
            "钱敏",
            "--today",
            "2026-11-05",
        ],
        ["review", code, "--approve", "--as", "吴海燕", "--today", "2026-11-05"],
    ):
        assert sh(cwd, url, *args).returncode == 0
    before = dump(url)
    line = assert_one_error(
        sh(
            cwd,
            url,
            "review",
            code,
            "--approve",
            "--comment",
            "同意",
            "--as",
            "陈静",
            "--today",
            "2026-10-01",
        )
    )
    assert "2026-10-01" in line and "2026-11-05" in line and "不能倒填" in line
    assert dump(url) == before


# --- control characters from the command line ------------------------------------------


def test_escape_sequences_in_a_note_are_refused(ledger_dir):
    cwd, url = ledger_dir
    sh(cwd, url, "assign", "ZG-2026-012", "--owner", "钱敏", "--as", "陈静", "--today", "2026-11-02")
    before = dump(url)
    line = assert_one_error(
        sh(
            cwd,
            url,
            "progress",
            "ZG-2026-012",
            "--note",
            "完成\x1b]0;pwned\x07\x1b[2J",
            "--as",
            "钱敏",
            "--today",
            "2026-11-30",
        )
    )
    assert "进展说明" in line and "U+001B" in line
    assert "\x1b" not in line  # the message itself never replays the sequence
    assert dump(url) == before


# --- failures that used to be tracebacks ----------------------------------------------


@pytest.mark.parametrize("url", ["not a url", "foo://x/y", "postgresql://u:secret@host:notaport/db"])
def test_a_malformed_database_url_is_one_line(tmp_path, url):
    for args in (["list"], ["init"]):
        line = assert_one_error(sh(tmp_path, url, *args))
        assert "RECTIFY_DATABASE_URL" in line and "secret" not in line


def test_illegal_character_error_is_one_line(capsys):
    from openpyxl.utils.exceptions import IllegalCharacterError

    with pytest.raises(typer.Exit) as exc:
        with errors():
            raise IllegalCharacterError("\x1b cannot be used in worksheets.")
    assert exc.value.exit_code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("错误：") and "控制字符" in err
    with pytest.raises(KeyError):  # anything unexpected still surfaces for a bug report
        with errors():
            raise KeyError("x")


@pytest.mark.flow
def test_a_failed_remind_run_ends_in_one_line(ledger_dir, api_env):
    """Every email deferred by the server: the run fails (NothingDelivered), and the person sees
    one line, not Prefect's engine traceback and INFO chatter."""
    cwd, url = ledger_dir
    handler = ScriptedHandler(mail=itertools.repeat("451 4.3.0 稍后再试"))
    with plain_server(handler) as server:
        result = sh(
            cwd,
            url,
            "remind",
            "--today",
            "2026-11-27",
            **api_env,
            RECTIFY_TODAY="2026-11-27",
            RECTIFY_SMTP_HOST=server.hostname,
            RECTIFY_SMTP_PORT=str(server.port),
        )
    assert handler.calls["MAIL"] > 0  # it really tried
    line = assert_one_error(result)
    assert "催办邮件全部未能投递" in line
    assert "Encountered exception" not in result.stderr and "| INFO" not in result.stderr


@pytest.mark.flow
def test_a_failed_report_run_ends_in_one_line(ledger_dir, api_env):
    cwd, url = ledger_dir
    out = cwd / "out"
    (out / "整改工作情况报告-2026-11-27.md").mkdir(parents=True)  # a folder where the file goes
    result = sh(cwd, url, "report", "--as-of", "2026-11-27", "--format", "md", "--out", str(out), **api_env)
    line = assert_one_error(result)
    assert "同名的目录已存在" in line and "整改工作情况报告-2026-11-27.md" in line
    assert "Encountered exception" not in result.stderr
