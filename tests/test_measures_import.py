"""A register that says a measure is finished, re-imports that keep done measures and approved
extensions, and the `rectify measure` / `rectify extend` commands, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from ledger_helpers import dump
from models import AuditRecord, Item
from models.db import session_factory
from rectify import extensions, workflow
from register_helpers import CAL, DAY, PEOPLE, PEOPLE_HEAD, run_import, write_csv

HEAD = ["序号", "问题描述", "整改措施", "责任领导", "责任人", "整改时限", "整改进展", "完成情况"]


def register(tmp_path, rows, name="r.csv"):
    return [write_csv(tmp_path / name, HEAD, rows), write_csv(tmp_path / "p.csv", PEOPLE_HEAD, PEOPLE)]


ROWS = [
    ["ZG-1", "学习形式单一", "制定学习方案", "周建国", "刘洋", "2026-12-31", "方案已起草", "已完成"],
    ["", "", "每周推送学习资料", "", "", "立行立改", "", "未完成"],
    ["", "", "开展专题研讨", "", "", "2026-12-15", "", "已整改到位"],
    ["ZG-2", "调研不够", "走访企业10家", "周建国", "刘洋", "2026-12-31", "已完成", ""],
    ["ZG-3", "制度不严", "修订制度", "周建国", "刘洋", "2026-12-31", "尚未完成", "基本完成"],
]


def done_state(url, code):
    with session_factory(url)() as s:
        item = workflow.get_item(s, code)
        return [(m.text, m.done_on, m.done_by_id, m.done_note) for m in item.measures]


def test_register_rows_that_say_done_import_the_measure_as_done(db_url, tmp_path):
    run_import(db_url, register(tmp_path, ROWS))
    assert done_state(db_url, "ZG-1") == [
        ("制定学习方案", DAY, None, "已完成"),
        ("每周推送学习资料", None, None, ""),
        ("开展专题研讨", DAY, None, "已整改到位"),
    ]
    assert done_state(db_url, "ZG-2") == [("走访企业10家", DAY, None, "已完成")]  # 整改进展 says so
    assert done_state(db_url, "ZG-3") == [("修订制度", None, None, "")]  # 尚未完成 / 基本完成: not done


def test_re_import_keeps_done_measures_and_approved_extensions(db_url, tmp_path):
    run_import(db_url, register(tmp_path, ROWS))
    url = db_url
    with session_factory(url)() as s, s.begin():
        owner, secretary = workflow.get_person(s, "刘洋"), workflow.get_person(s, "陈静")
        extensions.request(
            s, "ZG-3", 1, owner, date(2026, 11, 30), to=date(2027, 1, 29), reason="需党组会审议", calendar=CAL
        )
        extensions.decide(
            s, "ZG-3", 1, secretary, date(2026, 12, 1), approve=True, comment="同意", calendar=CAL
        )
    before = dump(url)
    # The same register again: the extension stands, nothing changes.
    result = run_import(url, register(tmp_path, ROWS), day=date(2026, 12, 2), actor="陈静")
    assert "ZG-3" in result.unchanged and dump(url) == before
    # …nor does the register exported after the extension (it shows the new date).
    exported = [list(r) for r in ROWS]
    exported[4][5] = "2027-01-29"
    result = run_import(url, register(tmp_path, exported), day=date(2026, 12, 2), actor="陈静")
    assert "ZG-3" in result.unchanged and dump(url) == before
    # A register that now says 001's second measure is done, and changes 003's text.
    rows = [list(r) for r in ROWS]
    rows[1][7] = "已完成"
    rows[4][2] = "修订并印发制度"
    run_import(url, register(tmp_path, rows), day=date(2026, 12, 2), actor="陈静")
    assert done_state(url, "ZG-1")[1] == ("每周推送学习资料", date(2026, 12, 2), None, "已完成")
    with session_factory(url)() as s:
        item = workflow.get_item(s, "ZG-3")
        # another text is another measure: the register's date, no extension to carry
        assert [(m.text, m.deadline, m.original_deadline) for m in item.measures] == [
            ("修订并印发制度", date(2026, 12, 31), None)
        ]
        changes = s.scalars(
            select(AuditRecord.details).join(Item).where(Item.code == "ZG-1", AuditRecord.action == "update")
        ).one()["changes"]
        assert changes == {"done": [2]}


def test_extension_survives_a_reordering_re_import(db_url, tmp_path):
    run_import(db_url, register(tmp_path, ROWS))
    with session_factory(db_url)() as s, s.begin():
        extensions.request(
            s,
            "ZG-1",
            2,
            workflow.get_person(s, "刘洋"),
            date(2026, 11, 30),
            to=date(2026, 12, 18),
            reason="等待平台上线",
            calendar=CAL,
        )
        extensions.decide(
            s,
            "ZG-1",
            2,
            workflow.get_person(s, "陈静"),
            date(2026, 11, 30),
            approve=True,
            comment="",
            calendar=CAL,
        )
    rows = [ROWS[0], ROWS[2], ROWS[1], *ROWS[3:]]  # measures 2 and 3 swapped
    run_import(db_url, register(tmp_path, rows), day=date(2026, 12, 1), actor="陈静")
    with session_factory(db_url)() as s:
        item = workflow.get_item(s, "ZG-1")
        assert [(m.text, m.deadline, m.original_deadline, m.done_on is not None) for m in item.measures] == [
            ("制定学习方案", date(2026, 12, 31), None, True),
            ("开展专题研讨", date(2026, 12, 15), None, True),
            ("每周推送学习资料", date(2026, 12, 18), date(2026, 11, 9), False),
        ]
        assert item.deadline == date(2026, 12, 31)


# --- the commands ---------------------------------------------------------------------------


def test_measure_and_extend_commands(cli, tmp_path):
    from ledger_helpers import as_json

    url = cli.url
    run_import(url, register(tmp_path, ROWS))
    out = cli(
        "measure", "ZG-3", "1", "--done", "--note", "制度已印发", "--as", "刘洋", "--today", "2026-11-30"
    )
    assert out.stdout.strip() == "ZG-3：第1条整改措施已标记完成"
    before = dump(url)
    for args, line in [
        (["measure", "ZG-3", "1", "--note", "x", "--as", "刘洋"], "请用 --done"),
        (["measure", "ZG-3", "1", "--done", "--note", "x", "--as", "刘洋"], "已于 2026-11-30 完成"),
        (["measure", "ZG-3", "9", "--done", "--note", "x", "--as", "刘洋"], "没有第9条"),
        (["extend", "ZG-1", "2", "--to", "2026-12-12", "--reason", "x", "--as", "刘洋"], "不是工作日"),
        (["extend", "ZG-1", "2", "--to", "12/18", "--reason", "x", "--as", "刘洋"], "格式不正确"),
        (["extend", "ZG-1", "2", "--approve", "--reject"], "请选择其一"),
        (["extend", "ZG-1", "2", "--approve"], "没有待审批的延期申请"),
    ]:
        result = cli(*args, "--today", "2026-11-30", ok=False)
        assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
        assert line in result.stderr and "Traceback" not in result.stderr
    assert dump(url) == before
    out = cli(
        "extend",
        "ZG-1",
        "2",
        "--to",
        "2026-12-18",
        "--reason",
        "等待平台上线",
        "--as",
        "刘洋",
        "--today",
        "2026-11-30",
    )
    assert "等待秘书审批" in out.stdout
    result = cli("extend", "ZG-1", "2", "--approve", "--as", "刘洋", "--today", "2026-11-30", ok=False)
    assert "仅秘书可以" in result.stderr
    cli("extend", "ZG-1", "2", "--approve", "--comment", "同意", "--today", "2026-12-01")
    d = as_json(cli("show", "ZG-1", "--json", "--today", "2026-12-01"))
    assert [
        (m["number"], m["deadline"], m["original_deadline"], m["done_on"], m["light"]) for m in d["measures"]
    ] == [
        (1, "2026-12-31", None, DAY.isoformat(), "green"),
        (2, "2026-12-18", "2026-11-09", None, "green"),
        (3, "2026-12-15", None, DAY.isoformat(), "green"),
    ]
    assert [(e["measure"], e["status"], e["decided_by"]) for e in d["extensions"]] == [
        (2, "approved", "陈静")
    ]
    shown = cli("show", "ZG-1", "--today", "2026-12-14").stdout
    assert "2. 每周推送学习资料（2026-12-18，原定时限 2026-11-09） 黄灯 未完成" in shown
    assert "已批准（陈静，2026-12-01：同意）" in shown
    lights = {r["code"]: r["light"] for r in as_json(cli("list", "--json", "--today", "2026-12-21"))}
    assert lights == {"ZG-1": "red", "ZG-2": "green", "ZG-3": "green"}  # 18 Dec passed, unfinished
