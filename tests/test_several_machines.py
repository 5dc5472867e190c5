"""Several machines, for real: the set-up docs/operations.md offers to users who outgrow one.

The Prefect server on PostgreSQL (`prefect server start` with
`PREFECT_API_DATABASE_CONNECTION_URL=postgresql+asyncpg://…`, its own PREFECT_HOME), the ledger
on PostgreSQL, a `process` work pool `rectify` made with `prefect work-pool create`, the
deployments of prefect.yaml applied with `prefect deploy --all`, and two `prefect worker start
--pool rectify` processes, all as subprocesses started with the documented commands. Through
them: an intake of a 500-item register, 100 closure submissions resumed at once over REST (as the
UI's Resume form sends them, each with the 验证码 its owner was emailed) each applied exactly once,
and two `deadline-watch` runs started together recording and sending every reminder once (mail
goes to an in-process aiosmtpd server, so a second delivery would be counted).

Sizes: RECTIFY_SEVERAL_MACHINES_ITEMS (default 500) and RECTIFY_SEVERAL_MACHINES_RESUMES
(default 100) scale it down for a slow machine; every resume executes the item run in a new
process on a worker (a Prefect import each), which dominates the wall time (docs/notes-h3.md).
Skipped with the reason when PostgreSQL is not configured; in CI (.ci/run) both databases are.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mail_codes import confirm_code, mailed_codes  # noqa: E402
from processes import Stop, checked_calls, wait_for  # noqa: E402
from smtp_servers import RecordingHandler, running  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PREFECT_PG_URL = os.environ.get("RECTIFY_TEST_PREFECT_POSTGRES_URL")
ITEMS = int(os.environ.get("RECTIFY_SEVERAL_MACHINES_ITEMS", "500"))
RESUMES = int(os.environ.get("RECTIFY_SEVERAL_MACHINES_RESUMES", "100"))
TODAY = date(2026, 11, 30)  # a Monday
DEADLINE = "2026年12月7日"  # five working days on: every item's owner gets a 到期提醒 today


def write_register(path: Path, n: int) -> Path:
    from demo.register import build_cycled

    return build_cycled(path, n, "PG", DEADLINE)


def reset_prefect_database(url: str) -> None:
    """An empty Prefect database: the server migrates it when it starts."""
    from sqlalchemy import text

    from models.db import get_engine

    engine = get_engine(url.replace("+asyncpg", "+psycopg"))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def prefect_pg() -> str:
    if not PREFECT_PG_URL:
        if os.environ.get("RECTIFY_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("RECTIFY_TEST_PREFECT_POSTGRES_URL is required in CI")
        pytest.skip(
            "Prefect 的 PostgreSQL 数据库未配置（设置 RECTIFY_TEST_PREFECT_POSTGRES_URL；.ci/run 会设置）"
        )
    # this session's own database named after the configured one: a second `make test` beside
    # this one runs this test too, and the schema is dropped here (tests/session_databases.py)
    from conftest import worker_database

    url = worker_database(PREFECT_PG_URL.replace("+asyncpg", "+psycopg"), "machines")
    url = url.replace("+psycopg", "+asyncpg")  # as Prefect's server is given it
    reset_prefect_database(url)
    return url


def ledger(url: str, sql: str, **params) -> list[tuple]:
    from sqlalchemy import text

    from models.db import get_engine

    with get_engine(url).connect() as conn:
        return list(conn.execute(text(sql), params))


def cpu_seconds_of_children() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def test_server_on_postgres_process_pool_two_workers(tmp_path, pg_migrated, prefect_pg):
    import httpx
    from conftest import _truncate_pg
    from e2e_helpers import prefect_server

    started, cpu0 = time.monotonic(), cpu_seconds_of_children()
    figures: dict[str, str] = {}

    def mark(what: str) -> None:
        figures[what] = (
            f"{time.monotonic() - started:.0f} s (load {Path('/proc/loadavg').read_text().split()[0]})"
        )
        print(f"[several machines] {what}: {figures[what]}", flush=True)

    _truncate_pg(pg_migrated)
    # docs/operations.md, 多台机器: once, before the server starts (JIT off for Prefect's queries)
    tuned = subprocess.run(
        [str(BIN / "rectify"), "prefect-db"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PREFECT_API_DATABASE_CONNECTION_URL=prefect_pg),
    )
    assert tuned.returncode == 0, tuned.stdout + tuned.stderr
    smtp = RecordingHandler()
    with (
        running(smtp) as controller,
        prefect_server(
            tmp_path,
            {
                "PREFECT_API_DATABASE_CONNECTION_URL": prefect_pg,
                "RECTIFY_DATABASE_URL": pg_migrated,
                "RECTIFY_HOME": str(ROOT),  # the checkout: prefect.yaml's pull step cds here
                # the 验证码 key, the same for every process (docs/operations.md); never code.key in
                # the checkout, which each machine would make for itself
                "RECTIFY_CODE_SECRET": secrets.token_hex(32),
                "RECTIFY_TODAY": TODAY.isoformat(),
                "RECTIFY_SMTP_HOST": controller.hostname,
                "RECTIFY_SMTP_PORT": str(controller.port),
                "PREFECT_WORKER_QUERY_SECONDS": "2",  # pick resumed runs up quickly (default 10 s)
                "PREFECT_LOGGING_LEVEL": "WARNING",
            },
        ) as (procs, api, _port, env),
    ):
        mark("server up")
        client = httpx.Client(base_url=api, timeout=120)

        call = checked_calls(client, patience=120)

        def cli(*args: str) -> subprocess.CompletedProcess:
            out = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
            assert out.returncode == 0, f"{args}: {out.stdout}\n{out.stderr}"
            return out

        # the documented commands, in the documented order (docs/operations.md, 多台机器)
        cli(str(BIN / "prefect"), "work-pool", "create", "rectify", "--type", "process")
        cli(str(BIN / "rectify"), "init")
        cli(str(BIN / "prefect"), "deploy", "--all")  # no terminal: no prompts
        deployments = {d["name"]: d for d in call("POST", "/deployments/filter", json={}).json()}
        assert set(deployments) == {"intake", "rectification-item", "deadline-watch", "next-steps-report"}
        assert {d["work_pool_name"] for d in deployments.values()} == {"rectify"}
        mark("deployed")
        for n in (1, 2):
            procs.start(
                f"worker-{n}",
                [
                    str(BIN / "prefect"),
                    "worker",
                    "start",
                    "--pool",
                    "rectify",
                    "--limit",
                    "4",
                    "--name",
                    f"worker-{n}",
                ],
                env,
            )

        def count_runs(deployment: str, *states: str) -> int:
            body = {
                "deployments": {"id": {"any_": [deployments[deployment]["id"]]}},
                "flow_runs": {"state": {"type": {"any_": list(states)}}},
            }
            return call("POST", "/flow_runs/count", json=body).json()

        def paused_at(run_id: str, key: str) -> bool:
            state = call("GET", f"/flow_runs/{run_id}").json()["state"]
            if state["type"] in ("FAILED", "CRASHED", "CANCELLED", "COMPLETED"):
                raise Stop(f"run {run_id}: {state}\n" + worker_logs(tmp_path))
            return state["type"] == "PAUSED" and state["state_details"].get("pause_key") == key

        def finished(run_id: str) -> bool:
            state = call("GET", f"/flow_runs/{run_id}").json()["state"]
            if state["type"] in ("FAILED", "CRASHED", "CANCELLED"):
                raise Stop(f"run {run_id}: {state}\n" + worker_logs(tmp_path))
            return state["type"] == "COMPLETED"

        # 1. the intake of the register, executed by a worker
        register = write_register(tmp_path / "清单.xlsx", ITEMS)
        intake = call(
            "POST",
            f"/deployments/{deployments['intake']['id']}/create_flow_run",
            json={"parameters": {"paths": [str(register)]}},
        ).json()
        # started through the API, the intake proves nobody: a secretary confirms its 交办 with
        # the one code of her 【交办确认】 email (issue #9)
        wait_for(
            "the intake waiting for 交办确认",
            lambda: paused_at(intake["id"], "confirm-0"),
            timeout=1800,
            every=2,
        )
        name, code = wait_for("the 交办确认 email", lambda: confirm_code(smtp), timeout=300, every=1)
        schema = json.loads(call("GET", f"/flow_runs/{intake['id']}/input/suspended-confirm-0-schema").text)
        r = call(
            "POST",
            f"/flow_runs/{intake['id']}/resume",
            json={
                "run_input": {
                    "items": schema["properties"]["items"]["default"],
                    "secretary": name,
                    "code": code,
                }
            },
        )
        assert r.json()["status"] == "ACCEPT", r.text
        wait_for("the intake run", lambda: finished(intake["id"]), timeout=1800, every=2)
        wait_for(
            f"{ITEMS} item runs waiting",
            lambda: count_runs("rectification-item", "PAUSED") >= ITEMS,
            timeout=600,
            every=2,
        )
        assert count_runs("rectification-item", "PAUSED") == ITEMS
        items = ledger(
            pg_migrated,
            "SELECT i.code, i.flow_run_id, p.name, p.email FROM items i "
            "JOIN people p ON p.id = i.owner_id ORDER BY i.id",
        )
        assert len(items) == ITEMS and all(run for _, run, _, _ in items)
        assert len({run for _, run, _, _ in items}) == ITEMS  # one run per item
        mark(f"intake of {ITEMS} items, every run waiting")

        # 2. RESUMES closure submissions at once, each with the code mailed to its owner
        codes = mailed_codes(smtp)
        chosen = items[:RESUMES]

        def resume(row) -> str:
            code, run_id, owner, email = row
            r = call(
                "POST",
                f"/flow_runs/{run_id}/resume",
                json={
                    "run_input": {
                        "summary": "已按措施完成整改",
                        "evidence": ["整改报告.pdf"],
                        "completes": [1],
                        "submitter": owner,
                        "code": codes[code, email],
                    }
                },
            )
            return r.json()["status"]

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(resume, chosen))
        assert answers == ["ACCEPT"] * len(chosen)
        mark(f"{RESUMES} resumes accepted")

        def chosen_states() -> Counter:
            return Counter(
                f"{s['type']}/{s['name']}"
                for s in (call("GET", f"/flow_runs/{run_id}").json()["state"] for _, run_id, _, _ in chosen)
            )

        def run_logs(level: int = 30) -> list[str]:
            """The resumed runs' own log lines at `level` and above, from the API (a process
            worker does not echo its runs' output)."""
            body = {
                "logs": {
                    "flow_run_id": {"any_": [run_id for _, run_id, _, _ in chosen]},
                    "level": {"ge_": level},
                },
                "sort": "TIMESTAMP_ASC",
                "limit": 200,
            }
            return [
                f"{line['timestamp']} {line['message']}"
                for line in call("POST", "/logs/filter", json=body).json()
            ]

        def submitted() -> int:
            if refused := [line for line in run_logs() if "输入未被受理" in line]:
                raise Stop("\n".join(refused[:5]))
            states = chosen_states()
            if broken := {
                s: n
                for s, n in states.items()
                if s.split("/")[0] in ("FAILED", "CRASHED", "CANCELLED", "COMPLETED")
            }:
                raise Stop(f"resumed runs ended: {broken}\n" + worker_logs(tmp_path))
            return ledger(pg_migrated, "SELECT count(*) FROM audit_records WHERE action = 'submit'")[0][0]

        try:
            wait_for(
                f"{RESUMES} submissions in the ledger", lambda: submitted() >= RESUMES, timeout=1800, every=2
            )
        except Stop:
            raise
        except AssertionError as exc:  # what a hang looked like, for whoever reads the CI log
            raise AssertionError(
                f"{exc}\nsubmitted: {submitted()}; resumed runs: "
                f"{dict(chosen_states())}\n" + "\n".join(run_logs()[-40:]) + f"\n{worker_logs(tmp_path)}"
            ) from None
        statuses = Counter(s for (s,) in ledger(pg_migrated, "SELECT status FROM items"))
        assert statuses == Counter({"leader_review": RESUMES, "in_progress": ITEMS - RESUMES})
        # ... and each run waits again at the next form (the leader's sign-off)
        wait_for(
            "the resumed runs waiting again",
            lambda: count_runs("rectification-item", "PAUSED") == ITEMS,
            timeout=600,
            every=2,
        )
        audit = Counter(
            c
            for (c,) in ledger(
                pg_migrated,
                "SELECT i.code FROM audit_records a JOIN items i ON i.id = a.item_id "
                "WHERE a.action = 'submit'",
            )
        )
        assert audit == Counter({code: 1 for code, _, _, _ in chosen})  # each exactly once
        mark(f"{RESUMES} submissions applied once each")

        # 3. two deadline-watch runs started together: every reminder recorded and sent once
        before = len(smtp.messages)
        watch = deployments["deadline-watch"]["id"]
        with ThreadPoolExecutor(2) as pool:
            runs = list(
                pool.map(
                    lambda _: call(
                        "POST", f"/deployments/{watch}/create_flow_run", json={"parameters": {}}
                    ).json(),
                    range(2),
                )
            )
        for run in runs:
            wait_for("a deadline-watch run", lambda run=run: finished(run["id"]), timeout=900, every=2)
        lines = ledger(
            pg_migrated,
            "SELECT i.code, l.rung FROM reminder_lines l "
            "JOIN items i ON i.id = l.item_id JOIN outbox o ON o.id = l.outbox_id "
            "WHERE o.source = 'sweep'",
        )
        # every item still being worked on is due in five working days: one 到期提醒 line each
        # (the submitted ones wait for their review and are not reminded)
        waiting = items[RESUMES:]
        assert Counter(code for code, _ in lines) == Counter({c: 1 for c, _, _, _ in waiting}), lines[:5]
        sweep_mails = ledger(
            pg_migrated, "SELECT o.recipient_email, o.status FROM outbox o WHERE o.source = 'sweep'"
        )
        owners = {email for _, _, _, email in waiting}
        assert sorted(e for e, _ in sweep_mails) == sorted(owners)  # one digest per owner
        assert {s for _, s in sweep_mails} == {"sent"}
        received = Counter(rcpt for m in smtp.messages[before:] for rcpt in m.rcpt_tos)
        assert received == Counter({e: 1 for e in owners}), received
        mark("two deadline-watch runs: every reminder once")

    cpu = cpu_seconds_of_children() - cpu0
    print(
        f"[several machines] total {time.monotonic() - started:.0f} s wall, "
        f"{cpu:.0f} s CPU of child processes; {json.dumps(figures, ensure_ascii=False)}"
    )


def worker_logs(tmp: Path) -> str:
    return "\n".join(
        f"--- {p.name} (tail)\n" + "\n".join(p.read_text(errors="replace").splitlines()[-30:])
        for p in sorted([*tmp.glob("worker-*.log"), *tmp.glob("server.log")])
    )
