"""A person's submitted form, code included, sits in Prefect's API until the run executes
(issue #9, flows/input_proof.py). The server the set-ups run refuses deleting it, writing a
response key and forcing the wait again (flows/api_guard.py, tests/test_api_guard.py, where the
delete-and-rewrite attack is refused with 403). Here, through the session's harness, which is
Prefect's plain server: the run's own checks behind the guard. A colleague deletes the stored
input, forces the wait again and resumes it themselves, writes a response ahead or before the
person's resume: the run believes only an input its state history shows the person's Resume
stored; otherwise nothing changes in the ledger but the codes: the step's live codes are voided,
fresh ones mailed, the secretaries told. The ledger is dumped before and after each attack.
"""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from ledger_helpers import dump
from mail_codes import mails, text_of
from models import Status
from rectify.settings import get_settings
from api_attack_helpers import client, force, permissive_schema, unchanged_but_codes, write_input
from item_flow_helpers import (
    EMAIL,
    code,
    description,
    execute,
    resume,
    start,  # noqa: F401
    status,
    waits_at,
)

pytestmark = pytest.mark.flow

FORM = dict(request="申请销号", completes=[1], summary="已完成整改", evidence=["a.pdf"], submitter="刘洋")
FORGED = dict(completes=[1], summary="（冒名）已完成", evidence=[], submitter="刘洋")


def steal(run_id: UUID, key: str) -> str:
    """`GET /api/flow_runs/{id}/input/{key}`: what anyone with the UI password can read."""
    with client() as c:
        return json.loads(c.read_flow_run_input(run_id, f"suspended-{key}-response"))["code"]


def delete(run_id: UUID, key: str) -> None:
    with client() as c:
        c.delete_flow_run_input(run_id, f"suspended-{key}-response")


def top(run) -> str:
    return description(run).split("\n", 1)[0]


def told(outbox, name: str, subject_part: str) -> str:
    found = [
        text_of(m)
        for m in mails(outbox)
        if EMAIL.get(name, name) in str(m["To"]) and subject_part in str(m["Subject"])
    ]
    assert found, (name, subject_part)
    return found[-1]


def test_an_input_deleted_after_the_resume_voids_the_codes(sqlite_ledger, item_deployment):
    """Deleted, the run finds the wait left without input: the code it held may have been read
    (the colleague resumes the next wait with it): voided, fresh ones sent, secretaries told."""
    ledger, outbox = sqlite_ledger, get_settings().outbox_dir
    run_id = start(item_deployment)
    assert waits_at(execute(run_id), "submit-1-0")
    resume(run_id, **FORM, code=code("刘洋", "销号申请"))
    stolen = steal(run_id, "submit-1-0")
    delete(run_id, "submit-1-0")
    before = dump(ledger)
    run = execute(run_id)
    assert waits_at(run, "submit-1-1") and "被删除" in top(run)
    unchanged_but_codes(before, dump(ledger))
    assert "改动或删除" in told(outbox, "陈静", "安全提示")
    resume(run_id, **FORGED, code=stolen)
    run = execute(run_id)
    assert waits_at(run, "submit-1-2") and "已作废" in top(run)
    assert status(ledger) is Status.in_progress
    unchanged_but_codes(before, dump(ledger))
    # the owner's fresh code works
    resume(run_id, **FORM, code=code("刘洋", "销号申请"))
    run = execute(run_id)
    assert waits_at(run, "signoff-1-0"), (run.state.state_details.pause_key, top(run))
    assert status(ledger) is Status.leader_review


def test_a_wait_forced_again_and_resumed_by_someone_else_is_refused(sqlite_ledger, item_deployment):
    """The colleague deletes the person's input, forces the run back into the same wait and
    resumes it through the real endpoint with their content and the stolen code: the input
    was stored by a resume, but the wait happened twice."""
    from prefect.input.run_input import keyset_from_base_key
    from prefect.states import Suspended

    ledger = sqlite_ledger
    run_id = start(item_deployment)
    assert waits_at(execute(run_id), "submit-1-0")
    resume(run_id, **FORM, code=code("刘洋", "销号申请"))
    stolen = steal(run_id, "submit-1-0")
    delete(run_id, "submit-1-0")
    again = Suspended(pause_key="submit-1-0")
    again.state_details.run_input_keyset = keyset_from_base_key("suspended-submit-1-0")
    force(run_id, again)
    resume(run_id, **FORGED, code=stolen)
    before = dump(ledger)
    run = execute(run_id)
    assert waits_at(run, "submit-1-1") and "重复设置" in top(run), run.state
    assert status(ledger) is Status.in_progress
    unchanged_but_codes(before, dump(ledger))


def test_an_input_written_before_the_wait_is_refused_without_a_try(sqlite_ledger, item_deployment):
    """Written ahead for a wait the run has not reached (the one a refusal leads to): refused
    outright when the run gets there, no wrong try counted against the person it names."""
    from sqlalchemy import select

    from models import ActionCode
    from models.db import session_factory

    ledger = sqlite_ledger
    run_id = start(item_deployment)
    assert waits_at(execute(run_id), "submit-1-0")
    mine = code("刘洋", "销号申请")
    write_input(run_id, "submit-1-1", dict(FORGED, code=f"{(int(mine) + 2) % 10**6:06d}"))
    resume(run_id, **FORM, code=f"{(int(mine) + 1) % 10**6:06d}")  # the owner mistypes once
    before = dump(ledger)
    run = execute(run_id)
    assert waits_at(run, "submit-1-2") and "不是通过“Resume”" in top(run), top(run)
    with session_factory(ledger)() as s:
        live = s.scalars(
            select(ActionCode).where(ActionCode.used_at.is_(None), ActionCode.voided_at.is_(None))
        ).all()
        assert sorted(r.wrong_tries for r in live) == [0, 1]  # the owner's one mistype only
    assert dump(ledger)["audit_records"] == before["audit_records"]
    resume(run_id, **FORM, code=mine)
    assert waits_at(execute(run_id), "signoff-1-0")


def test_a_right_code_with_a_refused_form_is_voided(sqlite_ledger, item_deployment):
    """The code was right but the form was refused (an extension without a date): it stays in
    the stored input, readable; so it is voided and a fresh one mailed."""
    ledger, outbox = sqlite_ledger, get_settings().outbox_dir
    run_id = start(item_deployment)
    assert waits_at(execute(run_id), "submit-1-0")
    mine = code("刘洋", "销号申请")
    resume(run_id, request="申请延期", summary="", evidence=[], submitter="刘洋", code=mine)
    before = dump(ledger)
    run = execute(run_id)
    assert waits_at(run, "submit-1-1") and "本次使用的验证码已作废" in top(run), top(run)
    unchanged_but_codes(before, dump(ledger))
    assert "未被受理的表单" in told(outbox, "刘洋", "验证码作废")
    resume(run_id, **FORGED, code=mine)  # read from the stored input: worthless now
    run = execute(run_id)
    assert waits_at(run, "submit-1-2") and "已作废" in top(run)
    resume(run_id, **FORM, code=code("刘洋", "销号申请"))
    run = execute(run_id)
    assert waits_at(run, "signoff-1-0"), (run.state.state_details.pause_key, top(run))


def test_dates_in_a_form_are_checked_by_the_run(sqlite_ledger, item_deployment):
    """申请延期至 malformed (past the server: the run's own form refuses it) or out of range
    (the domain's rules): refused with the reason on top of the re-shown form, nothing changed
    but the right code, which went with the refused form and is replaced."""
    ledger = sqlite_ledger
    run_id = start(item_deployment)
    assert waits_at(execute(run_id), "submit-1-0")
    ask = dict(request="申请延期", measure=1, reason="需要协调", summary="", evidence=[], submitter="刘洋")
    cases = [
        ("2026-13-45", "申请延期至：日期无效"),
        ("2026-02-30", "申请延期至：日期无效"),
        ("2020-01-06", "须晚于当前时限"),
        ("2099-01-05", "超出合理范围"),
    ]
    before = dump(ledger)
    for n, (to, why) in enumerate(cases):
        if "日期无效" in why:
            permissive_schema(run_id, f"submit-1-{n}")
        resume(run_id, **ask, extend_to=to, code=code("刘洋", "销号申请"))
        run = execute(run_id)
        assert waits_at(run, f"submit-1-{n + 1}"), run.state
        line = top(run)
        assert why in line and "新的验证码已发送到刘洋的邮箱" in line, line
        assert status(ledger) is Status.in_progress
        unchanged_but_codes(before, dump(ledger))
    # the form keeps what was entered (the date excepted when it was no date)
    assert description(run, "schema")["properties"]["request"]["default"] == "申请延期"


def test_an_input_written_before_the_person_s_resume_is_never_believed(sqlite_ledger, item_deployment):
    """The colleague writes the response key while the run waits, before anyone resumes: the
    person's Resume then fails (the key exists: the server's transaction rolls back, the run
    keeps waiting, nothing stored); forcing the run on, the run finds an input created before
    it left the wait: refused, the step's codes voided and reissued, the secretaries told."""
    from prefect.states import Scheduled

    ledger, outbox = sqlite_ledger, get_settings().outbox_dir
    run_id = start(item_deployment)
    assert waits_at(execute(run_id), "submit-1-0")
    write_input(run_id, "submit-1-0", dict(FORGED, code="123456"))
    with pytest.raises(Exception):
        resume(run_id, **FORM, code=code("刘洋", "销号申请"))
    with client() as c:
        assert waits_at(c.read_flow_run(run_id), "submit-1-0")
    before = dump(ledger)
    force(run_id, Scheduled())
    run = execute(run_id)
    assert waits_at(run, "submit-1-1") and "提交后被改动" in top(run), run.state
    unchanged_but_codes(before, dump(ledger))
    assert "改动或删除" in told(outbox, "陈静", "安全提示")
    resume(run_id, **FORM, code=code("刘洋", "销号申请"))
    assert waits_at(execute(run_id), "signoff-1-0")
