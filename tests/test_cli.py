"""The `rectify` command line end to end, in a temporary directory.

Error behaviour (one `错误：` line on stderr, non-zero exit, never a traceback) is checked through
real subprocesses of .venv/bin/rectify; the long happy path runs in-process with typer's
CliRunner (a subprocess costs ~0.5 s of imports per command). Also: the --today window and
backdating, control characters in notes, and failures that must stay one Chinese line (a bad
database URL, a `remind` or `report` run that fails against the Prefect harness's API).
`rectify init` and the read commands' light imports are in tests/test_cli_setup.py.
"""

from __future__ import annotations

import getpass
import itertools

import shutil
from datetime import date
from pathlib import Path

import pytest
import typer

from ledger_helpers import REGISTER_DAY, as_json, assert_one_error, dump, sh
from ledger_helpers import TODAY as TODAY_DATE
from models.db import get_engine
from rectify.cli.common import errors
from smtp_servers import ScriptedHandler, plain_server

REG_DAY = REGISTER_DAY.isoformat()
TODAY = TODAY_DATE.isoformat()
LIST_KEYS = {"code", "status", "status_label", "category", "source", "department", "description",
             "owner", "leader", "deadline", "deadline_label", "overdue", "open_deadline", "light",
             "light_label", "unreported", "report_due"}
SHOW_KEYS = LIST_KEYS - {"owner", "leader"} | {
    "owner", "leader", "remark", "register_date", "closed_on", "flow_run_id", "measures", "progress",
    "evidence", "audit", "extensions", "reporting", "recheck_on"}
AUDIT_KEYS = {"day", "at", "actor", "action", "action_label", "from", "to", "comment", "details",
              "proof", "os_account"}


@pytest.fixture
def demo_xlsx(workdir) -> Path:
    from demo.register import build

    return build(workdir / "xx局问题整改清单.xlsx")


# --- the happy path ---------------------------------------------------------------------


def test_import_dry_run_then_import(cli, demo_xlsx):
    before = dump(cli.url)
    result = cli("import", demo_xlsx.name, "--dry-run", "--today", REG_DAY)
    assert "试运行，未写入" in result.stdout and "新增事项12项" in result.stdout
    assert dump(cli.url) == before
    result = cli("import", demo_xlsx.name, "--today", REG_DAY, "--json")
    data = as_json(result)
    assert len(data["created"]) == 12 and data["dry_run"] is False
    result = cli("import", demo_xlsx.name, "--today", TODAY)
    assert "新增事项0项，更新0项，未变12项" in result.stdout


def test_list_filters_and_json(cli, demo_xlsx):
    cli("import", demo_xlsx.name, "--today", REG_DAY)
    rows = as_json(cli("list", "--json", "--today", TODAY))
    assert len(rows) == 12
    assert all(set(r) == LIST_KEYS for r in rows)
    assert [r["code"] for r in rows] == sorted(r["code"] for r in rows)
    by_code = {r["code"]: r for r in rows}
    assert by_code["ZG-2026-009"]["deadline"] is None and by_code["ZG-2026-009"]["deadline_label"] == "长期坚持"
    assert by_code["ZG-2026-009"]["status"] == "ongoing" and not by_code["ZG-2026-009"]["overdue"]
    overdue = {r["code"] for r in rows if r["overdue"]}
    # Per measure: 005, 007, 011 (item deadlines 11-20, 11-13, 11-25) and the items whose early
    # measure is past its date although the item's latest is not (001 and 012: 立行立改/5个工作日内
    # from 11-02, i.e. 11-09; 004: 15个工作日内, i.e. 11-23).
    assert overdue == {"ZG-2026-001", "ZG-2026-004", "ZG-2026-005", "ZG-2026-007", "ZG-2026-011",
                       "ZG-2026-012"}
    lights = {r["code"]: r["light"] for r in rows}
    assert {c for c, v in lights.items() if v == "red"} == overdue
    # due in 1 and 5 working days, and due today; the rest green (009 is 长期坚持)
    assert {c for c, v in lights.items() if v == "yellow"} == {"ZG-2026-002", "ZG-2026-003", "ZG-2026-010"}
    assert lights["ZG-2026-009"] == "green" and lights["ZG-2026-006"] == "green"

    assert {r["code"] for r in as_json(cli("list", "--overdue", "--json", "--today", TODAY))} == overdue
    assert as_json(cli("list", "--overdue", "--json", "--today", "2026-11-01")) == []
    for word in ("ongoing", "长期坚持"):
        assert [r["code"] for r in as_json(cli("list", "--status", word, "--json"))] == ["ZG-2026-009"]
    assert len(as_json(cli("list", "--status", "待交办", "--json"))) == 11
    assert {r["code"] for r in as_json(cli("list", "--owner", "孙丽", "--json"))} == {
        "ZG-2026-004", "ZG-2026-005", "ZG-2026-006"}
    assert {r["leader"] for r in as_json(cli("list", "--leader", "郑永强", "--json"))} == {"郑永强"}
    assert len(as_json(cli("list", "--leader", "郑永强", "--owner", "刘洋", "--json"))) == 0

    table = cli("list", "--today", TODAY).stdout
    assert table.splitlines()[0].split() == ["编号", "亮灯", "状态", "类别", "责任领导", "责任人", "整改时限", "问题描述"]
    assert "待交办·逾期" in table and table.rstrip().endswith("共12项，其中逾期6项")
    assert "没有符合条件" in cli("list", "--owner", "无名氏").stdout


def test_the_whole_life_of_an_item(cli, demo_xlsx, workdir):
    cli("import", demo_xlsx.name, "--today", REG_DAY)
    code = "ZG-2026-012"
    out = cli("assign", code, "--owner", "钱敏", "--department", "人事科", "--today", REG_DAY).stdout
    assert "当前状态：整改中" in out
    cli("progress", code, "--note", "制度修订稿已完成", "--percent", "80", "--as", "钱敏", "--today", "2026-11-20")
    evidence = workdir / "制度.pdf"
    evidence.write_bytes(b"%PDF-1.4")
    out = cli("submit", code, "--summary", "已修订并印发", "--evidence", str(evidence),
              "--evidence", "https://oa.example.gov.cn/doc/1", "--complete", "1", "--complete", "2",
              "--as", "钱敏", "--today", "2026-11-25").stdout
    assert "待领导审核" in out
    # the leader's sign-off first, with the same command; the stage decides who may act
    refused = cli("review", code, "--approve", "--today", "2026-11-25", ok=False)
    assert refused.stderr.strip() == "错误：陈静 不是事项 ZG-2026-012 的责任领导，无权签字背书（待吴海燕审核）"
    out = cli("review", code, "--approve", "--comment", "同意", "--as", "吴海燕", "--today", "2026-11-25")
    assert "当前状态：待审核" in out.stdout
    cli("review", code, "--reject", "--comment", "缺少印发文件", "--today", "2026-11-26")
    cli("submit", code, "--summary", "补充印发文件", "--as", "吴海燕", "--today", "2026-11-27")  # the leader
    # the leader submitted: another leader signs it off, never the submitter
    refused = cli("review", code, "--approve", "--as", "吴海燕", "--today", "2026-11-27", ok=False)
    assert "提交人" in refused.stderr
    cli("review", code, "--approve", "--as", "郑永强", "--today", "2026-11-27")
    cli("review", code, "--approve", "--comment", "同意销号", "--today", TODAY)
    cli("reopen", code, "--reason", "回头看发现记录仍不规范", "--today", "2026-12-10")

    d = as_json(cli("show", code, "--json", "--today", "2026-12-10"))
    assert set(d) == SHOW_KEYS
    assert d["status"] == "in_progress" and d["status_label"] == "整改中" and d["closed_on"] is None
    assert d["department"] == "人事科" and d["owner"] == "钱敏"
    assert all(set(a) == AUDIT_KEYS for a in d["audit"])
    assert [(a["action"], a["actor"], a["day"]) for a in d["audit"]] == [
        ("import", "陈静", REG_DAY), ("assign", "陈静", REG_DAY), ("progress", "钱敏", "2026-11-20"),
        ("submit", "钱敏", "2026-11-25"), ("signoff", "吴海燕", "2026-11-25"),
        ("reject", "陈静", "2026-11-26"), ("submit", "吴海燕", "2026-11-27"),
        ("signoff", "郑永强", "2026-11-27"), ("approve", "陈静", TODAY), ("reopen", "陈静", "2026-12-10"),
    ]
    # the command line is the administrator's console: every record it wrote names the OS account
    assert {(a["proof"], a["os_account"]) for a in d["audit"]} == {("命令行", getpass.getuser())}
    assert [e["ref"] for e in d["evidence"]] == [str(evidence), "https://oa.example.gov.cn/doc/1"]
    assert [(p["author"], p["percent"]) for p in d["progress"]] == [("钱敏", 80)]
    assert {m["deadline_text"] for m in d["measures"]} == {"2026年12月底前", "5个工作日内"}

    shown = cli("show", code, "--today", "2026-12-10").stdout
    assert f"（命令行 {getpass.getuser()}）" in shown
    assert "回头看（重新整改）" in shown and "已销号→整改中" in shown and "缺少印发文件" in shown


def test_ongoing_command(cli, demo_xlsx):
    cli("import", demo_xlsx.name, "--today", REG_DAY)
    cli("ongoing", "ZG-2026-001", "--comment", "常态化推进")
    assert as_json(cli("show", "ZG-2026-001", "--json"))["status"] == "ongoing"


# --- errors a person sees -------------------------------------------------------------


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
        import_register(s, [folder / "demo.xlsx"], day=date(2026, 11, 2), calendar=get_calendar(None),
                        actor="陈静")
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


@pytest.mark.parametrize("args,message", BAD_COMMANDS, ids=[f"{a[0]}-{i}" for i, (a, _) in enumerate(BAD_COMMANDS)])
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
        "ZG-1,问题三,措施三,周建国,刘洋,年底前\n", encoding="utf-8")
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


# --- control characters from the command line ------------------------------------------

def test_escape_sequences_in_a_note_are_refused(ledger_dir):
    cwd, url = ledger_dir
    sh(cwd, url, "assign", "ZG-2026-012", "--owner", "钱敏", "--as", "陈静", "--today", "2026-11-02")
    before = dump(url)
    line = assert_one_error(sh(cwd, url, "progress", "ZG-2026-012", "--note", "完成\x1b]0;pwned\x07\x1b[2J",
                               "--as", "钱敏", "--today", "2026-11-30"))
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
