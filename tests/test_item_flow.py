"""The per-item flow run against Prefect's real API (the session's test harness).

A worker would execute a resumed run in a fresh process from the top; `execute()` does the same
in-process: it runs the flow for an existing flow run and returns when the run suspends or ends.
Resumes go through Prefect's own resume_flow_run, with the data the UI's form would send.
Here the lifecycle, refusals and wrong codes; how a run begins (assignment form, 长期坚持,
names and tags) is in test_item_flow_start.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from ledger_helpers import DAY, dump, seed_item
from mail_codes import CODE_RE, latest_act, mails, text_of
from models import AuditRecord, Item, Measure, Status
from models.db import session_factory
from rectify import item_process
from rectify.settings import get_settings
from item_flow_helpers import (
    CODE,
    EMAIL,
    actions,
    code,
    description,
    execute,
    refused_form,
    resume,
    start,
    status,
    tags,
    waits_at,
)

pytestmark = pytest.mark.flow


@pytest.fixture
def ledger(db_url, settings_env):
    """On SQLite and PostgreSQL: the whole lifecycle and the command line's resume."""
    settings_env(db_url, today=DAY.isoformat())  # a run's `day` may only be the office's today
    return seed_item(db_url, CODE)


def test_owner_leader_secretary_with_a_rejection_at_each_stage(ledger, item_deployment):
    run_id = start(item_deployment)

    run = execute(run_id)
    assert waits_at(run, "submit-1-0"), run.state
    assert status(ledger) is Status.in_progress  # assigned by the secretary from the register
    assert actions(ledger)[-1] == ("assign", "陈静")
    assert CODE in description(run) and "刘洋" in description(run)
    assert tags(run_id) == {"待提交"}
    props = description(run, "schema")["properties"]
    assert props["submitter"]["enum"] == ["刘洋", "周建国"], props
    assert props["submitter"]["default"] == "刘洋"
    assert props["code"]["title"] == "验证码" and props["summary"]["maxLength"] == 4000

    resume(
        run_id,
        completes=[1],
        summary="已完成整改",
        evidence=["报告.pdf"],
        submitter="刘洋",
        code=code("刘洋", "销号申请"),
    )
    run = execute(run_id)
    assert waits_at(run, "signoff-1-0"), run.state
    assert status(ledger) is Status.leader_review and tags(run_id) == {"待领导审核"}
    text = description(run)
    assert text.index("已完成整改") < text.index(CODE + " ")  # the submission first, then the item
    assert description(run, "schema")["properties"]["reviewer"]["enum"] == ["周建国"]

    resume(
        run_id,
        decision="退回整改",
        comment="佐证材料不足，请补充会议记录",
        reviewer="周建国",
        code=code("周建国", "领导审核"),
    )
    run = execute(run_id)
    assert waits_at(run, "submit-2-0"), run.state
    assert status(ledger) is Status.in_progress and tags(run_id) == {"待提交"}
    assert "佐证材料不足，请补充会议记录" in description(run)  # the reject comment in the history
    _, _, mail = latest_act(get_settings().outbox_dir, EMAIL["刘洋"], "销号申请")
    assert "审核意见：佐证材料不足，请补充会议记录" in mail  # the 退回 email says what to do

    resume(
        run_id,
        completes=[1],
        summary="已补充会议记录",
        evidence=["会议记录.pdf"],
        submitter="刘洋",
        code=code("刘洋", "销号申请"),
    )
    execute(run_id)
    resume(run_id, decision="同意销号", comment="同意", reviewer="周建国", code=code("周建国", "领导审核"))
    run = execute(run_id)
    assert waits_at(run, "review-2-0"), run.state
    assert tags(run_id) == {"待审核"}
    assert description(run, "schema")["properties"]["reviewer"]["enum"] == ["王芳", "陈静"]

    resume(
        run_id, decision="退回整改", comment="会议记录未签字", reviewer="王芳", code=code("王芳", "销号审核")
    )
    run = execute(run_id)
    assert waits_at(run, "submit-3-0"), run.state

    # the leader may submit too; then another leader signs it off, never the submitter
    resume(
        run_id,
        completes=[1],
        summary="已签字",
        evidence=[],
        submitter="周建国",
        code=code("周建国", "销号申请"),
    )
    run = execute(run_id)
    assert waits_at(run, "signoff-3-0"), run.state
    assert description(run, "schema")["properties"]["reviewer"]["enum"] == ["吴海燕"]
    resume(run_id, decision="同意销号", comment="", reviewer="吴海燕", code=code("吴海燕", "领导审核"))
    execute(run_id)
    resume(run_id, decision="同意销号", comment="整改到位", reviewer="陈静", code=code("陈静", "销号审核"))
    run = execute(run_id)
    assert run.state.is_completed(), run.state
    assert status(ledger) is Status.closed and tags(run_id) == set()
    assert actions(ledger) == [
        ("assign", "陈静"),
        ("submit", "刘洋"),
        ("reject", "周建国"),
        ("submit", "刘洋"),
        ("signoff", "周建国"),
        ("reject", "王芳"),
        ("submit", "周建国"),
        ("signoff", "吴海燕"),
        ("approve", "陈静"),
    ]
    with session_factory(ledger)() as s:
        proofs = [a.proof for a in s.scalars(select(AuditRecord).order_by(AuditRecord.id))]
    assert proofs[0] is None and set(proofs[1:]) == {"邮件验证码"}  # the intake's assignment: 系统


def test_single_review_when_the_sign_off_is_off(sqlite_ledger, item_deployment, single_review):
    ledger = sqlite_ledger
    run_id = start(item_deployment)
    execute(run_id)
    resume(
        run_id, completes=[1], summary="已完成", evidence=[], submitter="刘洋", code=code("刘洋", "销号申请")
    )
    run = execute(run_id)
    assert waits_at(run, "review-1-0"), run.state
    resume(run_id, decision="同意销号", comment="同意", reviewer="陈静", code=code("陈静", "销号审核"))
    assert execute(run_id).state.is_completed()
    assert [a for a, _ in actions(ledger)] == ["assign", "submit", "approve"]


def test_every_refusal_through_the_rest_resume(sqlite_ledger, item_deployment):
    ledger = sqlite_ledger
    run_id = start(item_deployment)
    execute(run_id)
    mine = code("刘洋", "销号申请")
    theirs = code("周建国", "销号申请")
    form = dict(completes=[1], summary="已完成", evidence=["a.pdf"], submitter="刘洋")
    refused_form(
        run_id,
        ledger,
        "submit-1-1",
        "刘洋的销号申请验证码不正确（还可尝试4次）",
        **form,
        code=f"{(int(mine) + 1) % 10**6:06d}",
    )
    run = refused_form(run_id, ledger, "submit-1-2", "不是发给刘洋的", **form, code=theirs)
    props = description(run, "schema")["properties"]
    assert props["summary"]["default"] == "已完成" and props["evidence"]["default"] == ["a.pdf"]
    assert "default" not in props["code"]  # never kept
    refused_form(run_id, ledger, "submit-1-3", "请填写邮件中发给刘洋的销号申请验证码", **form, code="")
    refused_form(
        run_id,
        ledger,
        "submit-1-4",
        "不是发给周建国的",
        completes=[1],
        summary="已完成",
        evidence=[],
        submitter="周建国",
        code=mine,
    )  # the leader's name with the owner's code
    # what the server refuses before the run sees it: the run keeps waiting at the same key
    from prefect.client.orchestration import get_client

    before = dump(ledger)
    for bad in (
        dict(form, code=mine, extra="x"),
        dict(form, code=mine, submitter="孙丽"),
        dict(form, code=mine, summary="很" * 100_000),
        dict(form, code=mine, evidence=["a" * 600]),
        dict(form),
    ):  # the last: no code
        with pytest.raises(RuntimeError, match="Cannot resume"):
            resume(run_id, **bad)
        with get_client(sync_client=True) as client:
            assert waits_at(client.read_flow_run(run_id), "submit-1-4")
    assert dump(ledger) == before

    resume(run_id, **form, code=mine)
    run = execute(run_id)
    assert waits_at(run, "signoff-1-0"), run.state
    # used: the same code again is refused (through the CLI-free route: a new submission round)
    with session_factory(ledger)() as s:
        assert (
            s.scalars(select(AuditRecord).where(AuditRecord.action == "submit")).one().proof == "邮件验证码"
        )
    refused_form(
        run_id,
        ledger,
        "signoff-1-1",
        "周建国的领导审核验证码不正确",
        decision="同意销号",
        comment="",
        reviewer="周建国",
        code=mine,
    )


def test_five_wrong_tries_void_the_code_and_a_fresh_one_is_sent(sqlite_ledger, item_deployment):
    ledger = sqlite_ledger
    run_id = start(item_deployment)
    execute(run_id)
    first = code("刘洋", "销号申请")
    wrong = f"{(int(first) + 7) % 10**6:06d}"
    form = dict(completes=[1], summary="已完成", evidence=[], submitter="刘洋")
    for _ in range(5):
        resume(run_id, **form, code=wrong)
        run = execute(run_id)
    assert waits_at(run, "submit-1-5"), run.state
    assert "作废，新的验证码已发送到本人邮箱" in description(run)
    fresh, _, text = latest_act(get_settings().outbox_dir, EMAIL["刘洋"], "销号申请")
    assert fresh != first and "连续输错5次" in text
    secretaries = [m for m in mails(get_settings().outbox_dir) if "安全提示" in str(m["Subject"])]
    assert sorted(str(m["To"]).split("<")[1].rstrip(">") for m in secretaries) == [
        EMAIL["陈静"],
        EMAIL["王芳"],
    ]
    assert CODE_RE.search(text_of(secretaries[0])) is None  # the secretaries never see the code
    refused_form(run_id, ledger, "submit-1-6", "已作废（错误次数过多）", **form, code=first)
    resume(run_id, **form, code=fresh)
    assert waits_at(execute(run_id), "signoff-1-0")


def test_cli_resumes_the_waiting_run_and_the_step_happens_once(ledger, item_deployment):
    from rectify.cli import app

    run_id = start(item_deployment)
    execute(run_id)
    with session_factory(ledger)() as s, s.begin():
        item_process.link_run(s, CODE, str(run_id))
    cli = CliRunner()

    out = cli.invoke(
        app,
        [
            "submit",
            CODE,
            "--summary",
            "已整改",
            "--evidence",
            "a.pdf",
            "--complete",
            "1",
            "--as",
            "刘洋",
            "--today",
            DAY.isoformat(),
        ],
    )
    assert out.exit_code == 0, out.output
    assert "已恢复流程运行" in out.output
    run = execute(run_id)
    assert waits_at(run, "signoff-1-0"), run.state  # the run saw the ledger already moved
    assert tags(run_id) == {"待领导审核"}

    for who in ("周建国", "陈静"):  # the stage decides who acts: the leader, then the secretary
        out = cli.invoke(
            app, ["review", CODE, "--approve", "--comment", "同意", "--as", who, "--today", DAY.isoformat()]
        )
        assert out.exit_code == 0, out.output
        run = execute(run_id)
    assert run.state.is_completed(), run.state
    assert [a for a, _ in actions(ledger)] == ["assign", "submit", "signoff", "approve"]
    with session_factory(ledger)() as s:
        assert {a.proof for a in s.scalars(select(AuditRecord)) if a.action != "assign"} == {"命令行"}

    # a refused command changes nothing and does not touch the run
    out = cli.invoke(app, ["review", CODE, "--approve", "--as", "陈静", "--today", DAY.isoformat()])
    assert out.exit_code == 1 and "错误：" in out.output


def test_item_closed_while_no_run_waits_is_seen_when_the_run_looks(sqlite_ledger, item_deployment):
    ledger = sqlite_ledger
    from rectify.cli import app

    run_id = start(item_deployment, secretary=None)  # scheduled, not yet picked up by a worker
    with session_factory(ledger)() as s, s.begin():
        item_process.link_run(s, CODE, str(run_id))
    cli = CliRunner()
    day = ["--today", DAY.isoformat()]
    for args in (
        ["assign", CODE, "--owner", "刘洋", "--as", "陈静"],
        ["submit", CODE, "--summary", "已整改", "--complete", "1", "--as", "刘洋"],
        ["review", CODE, "--approve", "--as", "周建国"],
        ["review", CODE, "--approve", "--as", "陈静"],
    ):
        out = cli.invoke(app, args + day)
        assert out.exit_code == 0, out.output
    assert "未在等待输入" in out.output

    run = execute(run_id)
    assert run.state.is_completed(), run.state
    assert [a for a, _ in actions(ledger)] == ["assign", "submit", "signoff", "approve"]


def test_form_descriptions_escape_what_people_wrote(sqlite_ledger, item_deployment):
    """The UI renders the descriptions as Markdown: a description, summary or evidence cannot
    add an image or a link, or break the layout."""
    ledger = sqlite_ledger
    with session_factory(ledger)() as s, s.begin():
        s.execute(
            update(Item)
            .where(Item.code == CODE)
            .values(description="![追踪](http://evil.example/x.png)，见[通知](javascript:alert(1))")
        )
        s.execute(update(Measure).values(text="按[通知](javascript:alert(1))整改"))
    run_id = start(item_deployment)
    execute(run_id)
    resume(
        run_id,
        completes=[1],
        summary="已完成 | 附<img src=x onerror=alert(1)>",
        evidence=["[点此下载](http://evil.example/a.exe)"],
        submitter="刘洋",
        code=code("刘洋", "销号申请"),
    )
    run = execute(run_id)
    assert waits_at(run, "signoff-1-0"), run.state
    text = description(run)
    # the title: the description's start (md_escape also breaks autolinks: http\\://)
    assert f"**{CODE} \\!\\[追踪\\](http\\://ev…**" in text
    assert "1. 按\\[通知\\](javascript:alert(1))整改" in text
    assert "\\[点此下载\\](http\\://evil.example/a.exe)" in text
    assert "已完成 \\| 附&lt;img" in text and "<img" not in text
    assert "](" not in text.replace("\\](", "")  # no unescaped link or image left
