"""The `rectify` command line end to end, in a temporary directory: the happy path, in-process
with typer's CliRunner (a subprocess costs ~0.5 s of imports per command).

Error behaviour (one `错误：` line on stderr, non-zero exit, never a traceback: bad input, the
--today window and backdating, control characters, failures that must stay one Chinese line)
is checked through real subprocesses in tests/test_cli_errors.py.
`rectify init` and the read commands' light imports are in tests/test_cli_setup.py.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from ledger_helpers import REGISTER_DAY, as_json, dump
from ledger_helpers import TODAY as TODAY_DATE

REG_DAY = REGISTER_DAY.isoformat()
TODAY = TODAY_DATE.isoformat()
LIST_KEYS = {
    "code",
    "status",
    "status_label",
    "category",
    "source",
    "department",
    "description",
    "owner",
    "leader",
    "deadline",
    "deadline_label",
    "overdue",
    "open_deadline",
    "light",
    "light_label",
    "unreported",
    "report_due",
}
SHOW_KEYS = LIST_KEYS - {"owner", "leader"} | {
    "owner",
    "leader",
    "remark",
    "register_date",
    "closed_on",
    "flow_run_id",
    "measures",
    "progress",
    "evidence",
    "audit",
    "extensions",
    "reporting",
    "recheck_on",
}
AUDIT_KEYS = {
    "day",
    "at",
    "actor",
    "action",
    "action_label",
    "from",
    "to",
    "comment",
    "details",
    "proof",
    "os_account",
}


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
    assert (
        by_code["ZG-2026-009"]["deadline"] is None and by_code["ZG-2026-009"]["deadline_label"] == "长期坚持"
    )
    assert by_code["ZG-2026-009"]["status"] == "ongoing" and not by_code["ZG-2026-009"]["overdue"]
    overdue = {r["code"] for r in rows if r["overdue"]}
    # Per measure: 005, 007, 011 (item deadlines 11-20, 11-13, 11-25) and the items whose early
    # measure is past its date although the item's latest is not (001 and 012: 立行立改/5个工作日内
    # from 11-02, i.e. 11-09; 004: 15个工作日内, i.e. 11-23).
    assert overdue == {
        "ZG-2026-001",
        "ZG-2026-004",
        "ZG-2026-005",
        "ZG-2026-007",
        "ZG-2026-011",
        "ZG-2026-012",
    }
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
        "ZG-2026-004",
        "ZG-2026-005",
        "ZG-2026-006",
    }
    assert {r["leader"] for r in as_json(cli("list", "--leader", "郑永强", "--json"))} == {"郑永强"}
    assert len(as_json(cli("list", "--leader", "郑永强", "--owner", "刘洋", "--json"))) == 0

    table = cli("list", "--today", TODAY).stdout
    assert table.splitlines()[0].split() == [
        "编号",
        "亮灯",
        "状态",
        "类别",
        "责任领导",
        "责任人",
        "整改时限",
        "问题描述",
    ]
    assert "待交办·逾期" in table and table.rstrip().endswith("共12项，其中逾期6项")
    assert "没有符合条件" in cli("list", "--owner", "无名氏").stdout


def test_the_whole_life_of_an_item(cli, demo_xlsx, workdir):
    cli("import", demo_xlsx.name, "--today", REG_DAY)
    code = "ZG-2026-012"
    out = cli("assign", code, "--owner", "钱敏", "--department", "人事科", "--today", REG_DAY).stdout
    assert "当前状态：整改中" in out
    cli(
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
    evidence = workdir / "制度.pdf"
    evidence.write_bytes(b"%PDF-1.4")
    out = cli(
        "submit",
        code,
        "--summary",
        "已修订并印发",
        "--evidence",
        str(evidence),
        "--evidence",
        "https://oa.example.gov.cn/doc/1",
        "--complete",
        "1",
        "--complete",
        "2",
        "--as",
        "钱敏",
        "--today",
        "2026-11-25",
    ).stdout
    assert "待领导审核" in out
    # the leader's sign-off first, with the same command; the stage decides who may act
    refused = cli("review", code, "--approve", "--today", "2026-11-25", ok=False)
    assert (
        refused.stderr.strip() == "错误：陈静 不是事项 ZG-2026-012 的责任领导，无权签字背书（待吴海燕审核）"
    )
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
        ("import", "陈静", REG_DAY),
        ("assign", "陈静", REG_DAY),
        ("progress", "钱敏", "2026-11-20"),
        ("submit", "钱敏", "2026-11-25"),
        ("signoff", "吴海燕", "2026-11-25"),
        ("reject", "陈静", "2026-11-26"),
        ("submit", "吴海燕", "2026-11-27"),
        ("signoff", "郑永强", "2026-11-27"),
        ("approve", "陈静", TODAY),
        ("reopen", "陈静", "2026-12-10"),
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
