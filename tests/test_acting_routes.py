"""Every route a colleague with the UI password could take to act as someone else (issue #9).

Through Prefect's real API (the session's harness): starting deployments with parameters that
name a person, the intake from the UI and its 交办确认, writing a wait's input directly
(`POST /api/flow_runs/{id}/input`, past the server's schema check), and forcing a run's state.
Each attack is followed by the ledger dumped before and after. The REST resume's refusals of the
item forms (wrong, other's, missing code, unknown name, extra field, 100,000 characters) are in
test_item_flow.py::test_every_refusal_through_the_rest_resume; the domain's in
test_intake_confirm.py.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest
from sqlalchemy import select

from ledger_helpers import DAY, dump
from mail_codes import latest_act
from models import AuditRecord, Item, Status
from models.db import session_factory
from rectify.settings import get_settings
from api_attack_helpers import client, force, permissive_schema, unchanged_but_codes, write_input
from item_flow_helpers import (
    CODE,
    code,
    description,
    execute,
    ledger_without_tries,  # noqa: F401
    resume,
    start,
    status,
    waits_at,
)

pytestmark = pytest.mark.flow


def test_no_deployment_parameter_names_a_person(sqlite_ledger, item_deployment):
    """The item run's `secretary` is gone: a run that types one (the server accepts extra
    parameters) fails when it starts and signs nothing."""
    run_id = start(item_deployment, secretary=None)  # the item's own run (linked), not run yet
    before = dump(sqlite_ledger)
    with client() as c:
        typed = c.create_flow_run_from_deployment(
            item_deployment, parameters={"code": CODE, "title": "x", "secretary": "陈静"}
        ).id
    run = execute(typed)
    assert not waits_at(run, "submit-1-0") and not run.state.is_completed(), run.state
    assert status(sqlite_ledger) is Status.new
    # the parameters that remain sign nothing: a run of a 待交办 item waits for the 交办 form
    assert waits_at(execute(run_id), "assign-0")
    assert status(sqlite_ledger) is Status.new
    # a `day` other than the office's today would back-date what people do through the run
    with client() as c:
        dated = c.create_flow_run_from_deployment(
            item_deployment, parameters={"code": CODE, "title": "x", "day": "2026-11-02"}
        ).id
    run = execute(dated)
    assert run.state.is_failed() and "不能指定日期" in run.state.message, run.state
    after = dump(sqlite_ledger)
    assert after["audit_records"] == before["audit_records"] and after["items"] == before["items"]

    import flows.deadline_watch as watch
    import flows.intake as intake
    import flows.report as report
    import inspect

    names = {"actor", "secretary", "reviewer", "submitter", "owner", "leader", "as_"}
    for flow in (watch.deadline_watch, report.next_steps_report):
        assert not names & set(inspect.signature(flow.fn).parameters), flow.name
    # the intake keeps `actor` for the console (in-process); from a deployment it is refused
    assert "actor" in inspect.signature(intake.intake.fn).parameters


def test_a_forged_input_for_a_later_wait_is_refused_without_its_code_tried(sqlite_ledger, item_deployment):
    """Writing the leader's sign-off before the run gets there: the run never waited at that
    key, so the input was not stored by a Resume: refused outright (no wrong try against the
    leader), the run waits again; the owner's real submission went through."""
    ledger = sqlite_ledger
    run_id = start(item_deployment)
    assert waits_at(execute(run_id), "submit-1-0")
    write_input(
        run_id, "signoff-1-0", dict(decision="同意销号", comment="", reviewer="周建国", code="123456")
    )
    resume(
        run_id, completes=[1], summary="已完成", evidence=[], submitter="刘洋", code=code("刘洋", "销号申请")
    )
    run = execute(run_id)
    assert waits_at(run, "signoff-1-1"), run.state
    assert "不是通过“Resume”" in description(run).split("\n", 1)[0]
    assert status(ledger) is Status.leader_review  # submitted, not signed off
    with session_factory(ledger)() as s:
        assert not s.scalars(select(AuditRecord).where(AuditRecord.action == "signoff")).all()
        from models import ActionCode

        assert not any(r.wrong_tries for r in s.scalars(select(ActionCode)))


def test_a_second_run_of_the_item_cannot_use_a_code(sqlite_ledger, item_deployment):
    """Anyone with the UI can start another run of the item deployment for the same item, and a
    code may have been read from the real run's stored input (reading stays open: docs/
    acting-by-email.md). Resumed there with the owner's valid code, it is refused before the
    code is tried: nothing changes, not even a try; the code still acts in the item's own run."""
    ledger = sqlite_ledger
    real = start(item_deployment)  # linked in the ledger, as the intake links it
    assert waits_at(execute(real), "submit-1-0")
    with client() as c:
        other = c.create_flow_run_from_deployment(
            item_deployment, parameters={"code": CODE, "title": "问题"}
        ).id
    assert waits_at(execute(other), "submit-1-0")  # the same form, on a run the ledger ignores
    mine = code("刘洋", "销号申请")
    before = dump(ledger)
    resume(other, completes=[1], summary="（冒名）已完成", evidence=[], submitter="刘洋", code=mine)
    run = execute(other)
    assert waits_at(run, "submit-1-1"), run.state
    line = description(run).split("\n", 1)[0]
    assert "不是台账为事项" in line and "由另一个流程运行办理" in line and "验证码未使用" in line, line
    assert dump(ledger) == before  # no submission, no try counted, the code unused
    resume(real, completes=[1], summary="已完成", evidence=[], submitter="刘洋", code=mine)
    assert waits_at(execute(real), "signoff-1-0")
    assert status(ledger) is Status.leader_review
    with session_factory(ledger)() as s:
        (rec,) = s.scalars(select(AuditRecord).where(AuditRecord.action == "submit")).all()
        assert "冒名" not in (rec.comment or "") + str(rec.details or "")


def test_input_past_the_schema_is_refused_by_the_run_and_its_code_replaced(sqlite_ledger, item_deployment):
    """Someone holding the owner's code replaces the wait's stored schema with one that allows
    anything, then resumes through the real endpoint with a 100,000-character summary, too many
    evidence entries, an extra field or a name not offered: the server stores it (by a resume),
    the run validates it against its own form and refuses it with one line naming the field;
    nothing changes but the code, which sits readable in the refused input: voided, a fresh one
    mailed to the owner (not for a name the ledger does not know: no code of anyone's)."""
    ledger = sqlite_ledger
    run_id = start(item_deployment)
    assert waits_at(execute(run_id), "submit-1-0")
    before = dump(ledger)
    bad = [
        (dict(summary="很" * 100_000, evidence=[], submitter="刘洋"), "整改情况说明：过长"),
        (dict(summary="x", evidence=["a"] * 1000, submitter="刘洋"), "佐证材料"),
        (dict(summary="x", evidence=[], submitter="刘洋", extra="x"), "多余字段"),
        (dict(summary="x", evidence=[], submitter="冒名者"), "不是可选项"),
    ]
    for n, (form, why) in enumerate(bad):
        permissive_schema(run_id, f"submit-1-{n}")
        mine = code("刘洋", "销号申请")
        resume(run_id, **form, code=mine)
        run = execute(run_id)
        assert waits_at(run, f"submit-1-{n + 1}"), run.state
        line = description(run).split("\n", 1)[0]
        assert "表单内容无效" in line and why in line, line
        assert ("新的验证码已发送到刘洋的邮箱" in line) is (form["submitter"] == "刘洋"), line
        after = dump(ledger)
        assert after["items"] == before["items"] and after["audit_records"] == before["audit_records"]
    resume(
        run_id, completes=[1], summary="已完成", evidence=[], submitter="刘洋", code=code("刘洋", "销号申请")
    )
    assert waits_at(execute(run_id), "signoff-1-0")


def test_forcing_a_run_s_state_changes_nothing_in_the_ledger(sqlite_ledger, item_deployment):
    """set_state with force: rescheduled without an input, the run finds none (one refusal line,
    as for an invalid form) and waits again under the next key;
    completed or cancelled, the ledger is untouched and the repair gives the item a new run."""
    from prefect.states import Cancelled, Completed, Running, Scheduled

    from tasks.run_repair import repair_item_runs

    ledger = sqlite_ledger
    run_id = start(item_deployment)
    assert waits_at(execute(run_id), "submit-1-0")
    with session_factory(ledger)() as s, s.begin():
        from rectify import item_process

        item_process.link_run(s, CODE, str(run_id))
    before = dump(ledger)
    for n, state in enumerate((Scheduled(), Running()), start=1):
        force(run_id, state)
        run = execute(run_id)
        assert waits_at(run, f"submit-1-{n}"), (run.state.state_details.pause_key, run.state)
        # left without an input: as if a submitted form was deleted (flows/input_proof.py)
        assert "被删除" in description(run).split("\n", 1)[0]
    after = dump(ledger)
    assert after["items"] == before["items"] and after["audit_records"] == before["audit_records"]
    before = after  # the codes were voided and reissued, the secretaries told
    for state in (Completed(), Cancelled()):
        force(run_id, state)
        assert dump(ledger) == before
    new = repair_item_runs(DAY)[CODE]
    after = dump(ledger)
    assert [r for r in after["audit_records"] if r not in before["audit_records"]][0][5] == "relink_run"
    with client() as c:
        assert waits_at(c.read_flow_run(UUID(new)), "submit-1-0")


# --- the intake started from the UI ------------------------------------------------------------


@pytest.fixture(scope="module")
def intake_deployment(prefect_harness):
    from flows.intake import intake

    return intake.to_deployment(name="intake").apply()


def run_intake(deployment_id, **parameters) -> UUID:
    with client() as c:
        return c.create_flow_run_from_deployment(deployment_id, parameters=parameters).id


def execute_intake(run_id: UUID):
    from flows.intake import intake

    return execute(run_id, intake)


def held(url: str) -> dict[str, Status]:
    with session_factory(url)() as s:
        return dict(s.execute(select(Item.code, Item.status)).all())


def test_the_ui_intake_signs_nothing_until_a_secretary_proves_herself(
    sqlite_url, settings_env, tmp_path, intake_deployment, item_deployment
):
    from demo.register import PEOPLE, build

    day = date(2026, 11, 16)
    settings_env(sqlite_url, today=day.isoformat())
    register = str(build(tmp_path / "整改清单.xlsx"))
    email = {p[0]: p[3] for p in PEOPLE}
    outbox = get_settings().outbox_dir

    # 0. another day than today: refused, nothing written (it would back-date the import)
    before = dump(sqlite_url)
    run = execute_intake(run_intake(intake_deployment, paths=[register], day="2026-11-02"))
    assert run.state.is_failed() and "不能指定日期" in run.state.message, run.state
    assert dump(sqlite_url) == before

    # 1. typing the secretary's name: refused, nothing written
    before = dump(sqlite_url)
    run = execute_intake(run_intake(intake_deployment, paths=[register], actor="陈静", day=str(day)))
    assert run.state.is_failed() and "不能指定签署人" in run.state.message
    assert dump(sqlite_url) == before

    # 2. without a name: imported as the system, nothing signed, one code per secretary
    run_id = run_intake(intake_deployment, paths=[register], day=str(day))
    run = execute_intake(run_id)
    assert waits_at(run, "confirm-0"), run.state
    assert "待交办确认" in run.tags  # the secretary's worklist: the intake run waits for her
    statuses = held(sqlite_url)
    waiting = sorted(c for c, s in statuses.items() if s is Status.new)
    assert waiting
    with session_factory(sqlite_url)() as s:
        assert not s.scalars(select(AuditRecord).where(AuditRecord.action == "assign")).all()
        assert {r.actor for r in s.scalars(select(AuditRecord).where(AuditRecord.action == "import"))} == {
            "系统"
        }
        assert all(i.flow_run_id is None for i in s.scalars(select(Item).where(Item.code.in_(waiting))))
    mine, _, text = latest_act(outbox, email["陈静"], "交办确认")
    assert all(c in text for c in waiting)
    schema = description(run, "schema")["properties"]
    assert schema["items"]["default"] == waiting and schema["secretary"]["enum"] == ["陈静"]

    # 3. a wrong code: refused, nothing signed, waits again
    before = ledger_without_tries(sqlite_url)
    resume(run_id, items=waiting, secretary="陈静", code=f"{(int(mine) + 1) % 10**6:06d}")
    run = execute_intake(run_id)
    assert waits_at(run, "confirm-1") and "不正确" in description(run).split("\n", 1)[0]
    assert ledger_without_tries(sqlite_url) == before
    # 4. her real code, past the schema with an item not in the batch: refused; the code sat
    # readable in the refused input, so it is voided and a fresh one mailed (as an item form's)
    permissive_schema(run_id, "confirm-1")  # past the server's check, through a real resume
    resume(run_id, items=waiting + ["ZG-9999"], secretary="陈静", code=mine)
    run = execute_intake(run_id)
    line = description(run).split("\n", 1)[0]
    assert waits_at(run, "confirm-2") and "表单内容无效" in line, line
    assert "本次使用的验证码已作废，新的验证码已发送到陈静的邮箱" in line, line
    unchanged_but_codes(before, dump(sqlite_url))
    burnt = mine
    mine, _, text = latest_act(outbox, email["陈静"], "交办确认")
    assert mine != burnt and "打开本次导入整改清单的流程运行（名称以“导入”开头" in text
    resume(run_id, items=waiting, secretary="陈静", code=burnt)  # the old one acts no more
    run = execute_intake(run_id)
    assert waits_at(run, "confirm-3") and "已作废" in description(run).split("\n", 1)[0]
    before = ledger_without_tries(sqlite_url)
    # 5. a name not in the ledger: the server refuses the resume
    with pytest.raises(RuntimeError, match="Cannot resume"):
        resume(run_id, items=waiting, secretary="冒名者", code=mine)

    # 6. her code, one item unticked: the others signed as 陈静 (邮件验证码) in one go
    resume(run_id, items=waiting[1:], secretary="陈静", code=mine)
    run = execute_intake(run_id)
    assert run.state.is_completed(), run.state
    statuses = held(sqlite_url)
    assert statuses[waiting[0]] is Status.new
    with session_factory(sqlite_url)() as s:
        signed = s.scalars(select(AuditRecord).where(AuditRecord.action == "assign")).all()
        assert {(r.actor, r.proof) for r in signed} == {("陈静", "邮件验证码")}
        assert len(signed) == len(waiting) - 1
        links = dict(s.execute(select(Item.code, Item.flow_run_id)).all())
    assert all(links.values())  # every open item has its run now
    with client() as c:
        assert waits_at(c.read_flow_run(UUID(links[waiting[1]])), "submit-1-0")
        assert waits_at(c.read_flow_run(UUID(links[waiting[0]])), "assign-0")  # its own form
        assert "待交办确认" not in c.read_flow_run(run_id).tags
    latest_act(outbox, email["陈静"], "交办")  # the unticked item's own 待交办 request


def test_the_report_started_from_the_ui_writes_only_into_the_report_folder(
    prefect_harness, sqlite_url, settings_env, tmp_path
):
    """`out_dir` from a deployment: a path outside the report folder (absolute elsewhere, `..`,
    a symbolic link out) is refused in one line and nothing is written; a relative one lands
    inside the folder. The console's in-process call keeps any folder (test_report.py)."""
    from flows.report import confined, next_steps_report

    settings_env(sqlite_url)
    reports = get_settings().report_dir
    reports.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "elsewhere"
    (reports / "link").symlink_to(outside, target_is_directory=True)
    for bad in (str(outside), "../elsewhere", "link", "/etc"):
        assert isinstance(confined(bad, reports), str), bad
    assert confined("2026", reports) == (reports / "2026").resolve()

    deployment = next_steps_report.to_deployment(name="report").apply()
    before = dump(sqlite_url)
    with client() as c:
        bad = c.create_flow_run_from_deployment(
            deployment, parameters={"out_dir": str(outside), "formats": ["md"]}
        ).id
        good = c.create_flow_run_from_deployment(
            deployment, parameters={"out_dir": "weekly", "formats": ["md"]}
        ).id
    run = execute(bad, next_steps_report)
    assert run.state.is_failed() and "只能写入报告目录" in run.state.message, run.state
    assert not outside.exists()
    run = execute(good, next_steps_report)
    assert run.state.is_completed(), run.state
    assert list((reports / "weekly").glob("*.md"))
    assert dump(sqlite_url) == before
