"""One Chinese line instead of a traceback (12), the --today window and backdating (10) and
control characters (6), through real `rectify` subprocesses; `remind` and `report` run their
flows against the shared Prefect harness's API, the way they run against a real server."""

from __future__ import annotations

import itertools

import pytest
import typer

from ledger_helpers import dump
from rectify.cli.common import errors
from smtp_servers import ScriptedHandler, plain_server
# test_cli's helpers and fixtures: the demo register imported on 2026-11-02, copied per test.
from test_cli import assert_one_error, demo_ledger_template, ledger_dir, sh  # noqa: F401


# --- 10: --today ------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["list", "--today", "9999-12-31"],
    ["list", "--today", "0001-01-01"],
    ["import", "demo.xlsx", "--as", "陈静", "--today", "9999-12-20"],  # was: ValueError year 10000
    ["progress", "ZG-2026-001", "--note", "x", "--as", "赵磊", "--today", "2100-01-01"],
], ids=lambda a: f"{a[0]}-{a[-1]}")
def test_a_day_outside_2000_2099_is_one_line(ledger_dir, args):
    cwd, url = ledger_dir
    before = dump(url)
    line = assert_one_error(sh(cwd, url, *args))
    assert "超出有效范围" in line and "2000-01-01" in line and "2099-12-31" in line
    assert dump(url) == before


def test_backdating_a_decision_is_one_line(ledger_dir):
    cwd, url = ledger_dir
    code = "ZG-2026-012"
    for args in (["assign", code, "--owner", "钱敏", "--as", "陈静", "--today", "2026-11-02"],
                 ["submit", code, "--summary", "已修订", "--complete", "1", "--complete", "2",
                  "--as", "钱敏", "--today", "2026-11-05"],
                 ["review", code, "--approve", "--as", "吴海燕", "--today", "2026-11-05"]):
        assert sh(cwd, url, *args).returncode == 0
    before = dump(url)
    line = assert_one_error(sh(cwd, url, "review", code, "--approve", "--comment", "同意",
                               "--as", "陈静", "--today", "2026-10-01"))
    assert "2026-10-01" in line and "2026-11-05" in line and "不能倒填" in line
    assert dump(url) == before


# --- 6: control characters from the command line ------------------------------------------

def test_escape_sequences_in_a_note_are_refused(ledger_dir):
    cwd, url = ledger_dir
    sh(cwd, url, "assign", "ZG-2026-012", "--owner", "钱敏", "--as", "陈静", "--today", "2026-11-02")
    before = dump(url)
    line = assert_one_error(sh(cwd, url, "progress", "ZG-2026-012", "--note", "完成\x1b]0;pwned\x07\x1b[2J",
                               "--as", "钱敏", "--today", "2026-11-30"))
    assert "进展说明" in line and "U+001B" in line
    assert "\x1b" not in line  # the message itself never replays the sequence
    assert dump(url) == before


# --- 12: failures that used to be tracebacks ----------------------------------------------

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


@pytest.fixture
def api_env(prefect_harness) -> dict:
    """The harness's API for a subprocess: `remind`/`report` do not start their own server."""
    from prefect.settings import PREFECT_API_URL

    return {"PREFECT_API_URL": PREFECT_API_URL.value(),
            "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore"}


@pytest.mark.flow
def test_a_failed_remind_run_ends_in_one_line(ledger_dir, api_env):
    """Every email deferred by the server: the run fails (NothingDelivered), and the person sees
    one line, not Prefect's engine traceback and INFO chatter."""
    cwd, url = ledger_dir
    handler = ScriptedHandler(mail=itertools.repeat("451 4.3.0 稍后再试"))
    with plain_server(handler) as server:
        result = sh(cwd, url, "remind", "--today", "2026-11-27", **api_env, RECTIFY_TODAY="2026-11-27",
                    RECTIFY_SMTP_HOST=server.hostname, RECTIFY_SMTP_PORT=str(server.port))
    assert handler.calls["MAIL"] > 0  # it really tried
    line = assert_one_error(result)
    assert "催办邮件全部未能投递" in line
    assert "Encountered exception" not in result.stderr and "| INFO" not in result.stderr


@pytest.mark.flow
def test_a_failed_report_run_ends_in_one_line(ledger_dir, api_env):
    cwd, url = ledger_dir
    out = cwd / "out"
    (out / "整改工作情况报告-2026-11-27.md").mkdir(parents=True)  # a folder where the file goes
    result = sh(cwd, url, "report", "--as-of", "2026-11-27", "--format", "md", "--out", str(out),
                **api_env)
    line = assert_one_error(result)
    assert "同名的目录已存在" in line and "整改工作情况报告-2026-11-27.md" in line
    assert "Encountered exception" not in result.stderr
