"""`rectify serve` starts every run as a fork of its pre-imported server (flows/serve_runner.py).

Real processes: `prefect server start` on SQLite and `rectify serve` with a prefect.yaml of two
deployments, the item flow and a probe (tests/serve_probe.py). The tests show the mechanism (the
run's process is a child of the fork server, itself a child of serve) and that nothing was given
up for it: a form resumes the item's run, the ledger moves, the run waits at the next form; a run
logs to its page; Cancel stops a run; a run that crashes leaves serve serving.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from uuid import UUID

import pytest

from ledger_helpers import DAY, PEOPLE, add_item, add_people
from models import Status
from models.db import session_factory
from processes import wait_for
from e2e_helpers import prefect_server

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
CODE = "ZG-2026-001"
EMAIL = {name: f"p{i}@example.gov.cn" for i, name in enumerate(PEOPLE)}
CONFIG = """
deployments:
  - name: rectification-item
    entrypoint: flows/item.py:rectification_item
    parameters: {}
  - name: serve-probe
    entrypoint: serve_probe.py:probe
    parameters: {}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The server, the ledger with one new item, and `rectify serve` (limit 2) running."""
    tmp = tmp_path_factory.mktemp("serve-fork")
    with prefect_server(tmp, {}) as (procs, api, _port, env):
        (tmp / "prefect.yaml").write_text(CONFIG, encoding="utf-8")
        with session_factory(env["RECTIFY_DATABASE_URL"])() as s, s.begin():
            people = add_people(s)
            add_item(s, CODE, Status.new, owner=people["刘洋"], leader=people["周建国"])
        env = {**env, "PYTHONPATH": str(Path(__file__).parent)}
        serve = procs.start(
            "serve",
            [str(BIN / "rectify"), "serve", "--config", str(tmp / "prefect.yaml"), "--limit", "2"],
            env,
        )
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: api}):  # this process's client: the same server
            with get_client(sync_client=True) as client:
                deployments = wait_for(
                    "served deployments",
                    lambda: (
                        {d.name: d.id for d in client.read_deployments()}
                        if len(client.read_deployments()) == 2
                        else None
                    ),
                    timeout=300,
                )
            yield {"tmp": tmp, "env": env, "serve": serve, "deployments": deployments}


def client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def start(served, name: str, parameters: dict) -> UUID:
    with client() as c:
        return c.create_flow_run_from_deployment(served["deployments"][name], parameters=parameters).id


def state(run_id: UUID):
    with client() as c:
        return c.read_flow_run(run_id).state


def probe_record(path: Path) -> dict:
    return wait_for(
        "the probe's record",
        lambda: path.exists() and path.read_text() and json.loads(path.read_text()),
        timeout=300,
    )


def test_a_run_is_a_fork_of_the_preimported_server_and_logs_to_its_page(served):
    out = served["tmp"] / "probe.json"
    run_id = start(served, "serve-probe", {"out": str(out)})
    record = probe_record(out)
    assert "multiprocessing.forkserver" in record["parent_cmdline"], record
    assert record["grandparent"] == served["serve"].pid, record  # serve -> fork server -> run
    wait_for("the probe's run completed", lambda: state(run_id).is_completed(), timeout=300)

    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with client() as c:
        lines = wait_for(
            "the probe's log line",
            lambda: [
                log.message
                for log in c.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
                if "探针运行于进程" in log.message
            ],
            timeout=120,
        )
    assert lines == [f"探针运行于进程 {record['pid']}"]


def test_a_form_reaches_the_ledger_and_the_run_waits_at_the_next_form(served):
    from prefect.flow_runs import resume_flow_run
    from sqlalchemy import select

    from models import Item

    from models import Person
    from rectify import codes, item_process

    # signed in the ledger first, as the console's intake does (no run parameter signs: #9)
    url = served["env"]["RECTIFY_DATABASE_URL"]
    assert item_process.assign_from_register(url, CODE, DAY, "陈静") is None
    run_id = start(
        served, "rectification-item", {"code": CODE, "title": "问题"}
    )  # `day`: only today from a deployment
    with item_process.transaction(url) as session:  # the item's run, as the intake links it
        assert item_process.link_run(session, CODE, str(run_id))
    wait_for(
        "the item's run waiting for 销号申请",
        lambda: state(run_id).is_paused() and state(run_id).state_details.pause_key == "submit-1-0",
        300,
    )
    with item_process.transaction(url) as session:  # the owner's code, as his 交办 email has one
        item = session.scalars(select(Item).where(Item.code == CODE)).one()
        owner = session.scalars(select(Person).where(Person.name == "刘洋")).one()
        act_code = codes.reveal_one(session, codes.issue(session, owner, item, "submit"))

    resume_flow_run(
        run_id,
        run_input={
            "completes": [1],
            "summary": "已完成整改",
            "evidence": ["报告.pdf"],
            "submitter": "刘洋",
            "code": act_code,
        },
    )

    def status() -> str:
        with session_factory(served["env"]["RECTIFY_DATABASE_URL"])() as s:
            return s.scalar(select(Item.status).where(Item.code == CODE)).value

    wait_for("the form in the ledger", lambda: status() == "leader_review", timeout=300)
    wait_for(
        "the run waiting for 领导审核",
        lambda: state(run_id).is_paused() and state(run_id).state_details.pause_key == "signoff-1-0",
        300,
    )
    assert served["serve"].poll() is None


def test_cancel_stops_a_run_and_a_crash_leaves_serve_serving(served):
    from prefect.states import Cancelling

    held = served["tmp"] / "held.json"
    run_id = start(served, "serve-probe", {"out": str(held), "hold": 600})
    record = probe_record(held)
    with client() as c:
        c.set_flow_run_state(run_id, Cancelling(), force=True)  # the UI's Cancel
    wait_for("the run cancelled", lambda: state(run_id).is_cancelled(), timeout=300)
    wait_for("the run's process gone", lambda: not Path(f"/proc/{record['pid']}").exists(), 120)

    crashed = served["tmp"] / "crash.json"
    crash_id = start(served, "serve-probe", {"out": str(crashed), "crash": True})
    probe_record(crashed)
    wait_for(
        "the crash recorded", lambda: state(crash_id).is_crashed() or state(crash_id).is_failed(), timeout=300
    )
    after = served["tmp"] / "after.json"
    after_id = start(served, "serve-probe", {"out": str(after)})
    wait_for("a run after the crash completed", lambda: state(after_id).is_completed(), timeout=300)
    assert served["serve"].poll() is None


def test_a_burst_queues_behind_the_limit(served):
    """Five runs at once under `--limit 2`: all complete, never more than two at a time (a slot a
    finished run frees takes the next queued run at once, flows/serve_runner.prompt_limit_manager,
    and that must not add a third)."""
    outs = [served["tmp"] / f"burst-{i}.json" for i in range(5)]
    ids = [start(served, "serve-probe", {"out": str(out), "hold": 4}) for out in outs]
    wait_for("all five runs completed", lambda: all(state(i).is_completed() for i in ids), 600)
    spans = [(r["started"], r["ended"]) for r in (json.loads(o.read_text()) for o in outs)]
    at_once = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert 1 <= at_once <= 2, spans
