"""Benchmark: the Prefect UI with 10,000 item runs waiting, on SQLite and on PostgreSQL.

    .venv/bin/python bench/bench_ui.py [--runs 10000] [--repeat 5] [--backends sqlite,postgres]
                                       [--pg-url postgresql+asyncpg://…] [--screenshots DIR]

Why: the secretary works from the runs page and an item's page; with one run per item a
bureau's register means thousands of waiting runs, and the page is only usable if the API calls
behind it answer in under 2 s (issue #8). For each backend this script starts `prefect server
start` (its own PREFECT_HOME; on PostgreSQL `PREFECT_API_DATABASE_CONNECTION_URL`, the database
emptied first), creates `--runs` runs of a `rectification-item` deployment already waiting for
their closure form (`--full` of them with tasks/waiting_runs.create_waiting_runs, as the intake
does; the rest with Prefect's bulk endpoint in the same state, see make_waiting_runs), opens the runs page and one run's page in headless Chromium, records
every API call each page makes (DevTools protocol, Network domain), replays each call
`--repeat` times with httpx and prints median and max against the 2 s target, and the ratio
PostgreSQL / SQLite. Screenshots of both pages go to `--screenshots` (docs/screenshots/ for the
docs). The load average is printed beside every figure: the machine is shared.
The browser and the replay are bench/cdp_browser.py.

PostgreSQL: `--pg-url`, else RECTIFY_BENCH_PREFECT_POSTGRES_URL or
RECTIFY_TEST_PREFECT_POSTGRES_URL; its database is DROPPED AND RECREATED (schema public) and
set up as `rectify prefect-db` does (JIT off; RECTIFY_BENCH_PREFECT_JIT=on measures without it,
after `ALTER ROLE CURRENT_USER IN DATABASE … RESET jit`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_tools import load
from cdp_browser import Browser, replay

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
BIN = Path(sys.executable).parent
TARGET = 2.0


@contextlib.contextmanager
def server(tmp: Path, pg_url: str | None):
    """`rectify server` (the guarded Prefect server) on a free port; yields its API URL."""
    import httpx

    from processes import free_port, wait_for

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = dict(
        os.environ,
        PREFECT_HOME=str(tmp / "prefect"),
        PREFECT_API_URL=api,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    if pg_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = pg_url
    else:
        env.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen(
        [str(BIN / "rectify"), "server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(
            "prefect server", lambda: httpx.get(f"{api}/health", timeout=5).status_code == 200, timeout=300
        )
        yield api
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def reset_pg(url: str) -> None:
    from sqlalchemy import text

    from models.db import get_engine

    engine = get_engine(url.replace("+asyncpg", "+psycopg"))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    if os.environ.get("RECTIFY_BENCH_PREFECT_JIT") != "on":  # the documented set-up: JIT off
        from rectify.cli.prefect_db import tune

        tune(url)


def closure_form():
    from prefect.input import RunInput
    from pydantic import Field

    class ClosureSubmission(RunInput):
        """请填写销号申请"""

        summary: str = Field(..., title="整改情况说明", max_length=2000)
        evidence: list[str] = Field(default_factory=list, title="佐证材料")
        submitter: str = Field(..., title="提交人")
        code: str = Field(..., title="验证码")

    return ClosureSubmission.with_initial_data(
        description="## 销号申请\n\n请填写整改情况说明并上传佐证材料。"
    )


def run_request(i: int) -> dict:
    code = f"UI-{i:05d}"
    departments = ["办公室", "综合科", "企业服务科", "机关党支部", "人事科"]
    return {
        "code": code,
        "key": f"{code}@2026-11-30",
        "name": f"{code} 学习形式还不够丰富",
        "tags": ["类别:班子问题", f"部门:{departments[i % 5]}", "领导:周建国"],
        "parameters": {"code": code, "title": "学习形式还不够丰富", "secretary": "陈静"},
        "wait": {"key": "submit-1-0", "wait": None, "tag": "待提交"},
    }


async def make_waiting_runs(api: str, n: int, full: int) -> tuple[str, float]:
    """n runs of a rectification-item deployment, each waiting at its closure form; returns
    the id of a run to open and the seconds it took.

    `full` of them are made exactly as the intake makes them (tasks.waiting_runs: created
    RUNNING, suspended at the key by the server's own rule, form saved: four calls each, about
    1.5 runs/s on this machine at load 25, so 10,000 would take hours). The rest are made 100 per
    call with Prefect's bulk endpoint (`POST /api/deployments/{id}/create_flow_run/bulk`) directly
    in the state those leave (PAUSED "Suspended", the pause key recorded, the worklist tag),
    without their form's two input rows, which only the page of that one run reads.
    """
    os.environ["PREFECT_API_URL"] = api
    from prefect.settings import PREFECT_API_URL, temporary_settings

    form = closure_form()
    t0 = time.monotonic()
    # the settings Prefect read at import name the first backend's server: this one explicitly
    with temporary_settings({PREFECT_API_URL: api}):
        return await _make_waiting_runs(api, n, full, form, t0)


async def _make_waiting_runs(api: str, n: int, full: int, form, t0: float) -> tuple[str, float]:
    from prefect.client.orchestration import get_client
    from prefect.input.run_input import keyset_from_paused_state
    from prefect.states import Suspended

    from tasks.waiting_runs import create_waiting_runs

    async with get_client() as client:
        flow_id = await client.create_flow_from_name("rectification-item")
        deployment_id = await client.create_deployment(
            flow_id, name="rectification-item", entrypoint="flows/item.py:rectification_item"
        )
        ids = await create_waiting_runs(
            client, deployment_id, [run_request(i) for i in range(1, full + 1)], lambda _wait: form
        )
        state = Suspended(pause_key="submit-1-0")
        state.state_details.run_input_keyset = keyset_from_paused_state(state)
        state_json = state.model_dump(mode="json", include={"type", "name", "message", "state_details"})
        for start in range(full + 1, n + 1, 100):
            body = [
                {
                    "name": r["name"],
                    "parameters": r["parameters"],
                    "idempotency_key": r["key"],
                    "tags": [*r["tags"], r["wait"]["tag"]],
                    "state": state_json,
                    "empirical_policy": {"pause_keys": ["submit-1-0"]},
                }
                for r in map(run_request, range(start, min(start + 100, n + 1)))
            ]
            await bulk_create(client, deployment_id, body)
            if (start - full - 1) % 2000 == 0:
                print(
                    f"  已创建 {start - 1 + len(body)} 个等待中的运行（{time.monotonic() - t0:.0f} 秒，"
                    f"负载 {load()}）",
                    flush=True,
                )
    return ids[run_request(1)["code"]], time.monotonic() - t0


async def bulk_create(client, deployment_id, body: list[dict]) -> None:
    """One bulk call; the runs the server could not write (SQLite: "database is locked" on a
    busy machine) or a whole 503 are sent again, bounded: the idempotency keys make a run
    created twice come back as the same run."""
    for attempt in range(30):
        r = await client._client.post(f"/deployments/{deployment_id}/create_flow_run/bulk", json=body)
        if r.status_code in (429, 503):
            await asyncio.sleep(1 + attempt)
            continue
        assert r.status_code in (200, 201), f"bulk create -> {r.status_code}: {r.text[:500]}"
        results = r.json()["results"]
        body = [b for b, x in zip(body, results) if x["status"] != "CREATED"]
        if not body:
            return
        await asyncio.sleep(1 + attempt)
    raise SystemExit(f"批量创建失败：{len(body)} 个运行多次重试后仍未创建")


def measure(
    backend: str, pg_url: str | None, n: int, full: int, repeat: int, shots: Path | None
) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-ui-{backend}-"))
    if pg_url:
        reset_pg(pg_url)
    print(f"\n== {backend}：{n} 个等待中的整改事项运行（负载 {load()}；临时目录 {tmp}）", flush=True)
    with server(tmp, pg_url) as api:
        run_id, took = asyncio.run(make_waiting_runs(api, n, full))
        print(f"创建 {n} 个等待运行：{took:.0f} 秒（{n / took:.0f} 个/秒，负载 {load()}）", flush=True)
        ui = api.removesuffix("/api")
        with Browser(tmp) as browser:
            pages = [
                ("runs", f"{ui}/runs", "document.body.innerText.includes('UI-0')", None),
                (
                    "run",
                    f"{ui}/runs/flow-run/{run_id}",
                    "[...document.querySelectorAll('button')].some(b => b.innerText.trim() === 'Resume')",
                    None,
                ),
                # the Resume form: its schema and description are read now
                (
                    "resume-form",
                    None,
                    "document.body.innerText.includes('整改情况说明')",
                    "[...document.querySelectorAll('button')]"
                    ".find(b => b.innerText.trim() === 'Resume')?.click()",
                ),
            ]
            rows = []
            for page, url, ready, action in pages:
                calls, shown = browser.open(url, ready, action)
                print(
                    f"页面 {page}：{shown:.1f} 秒显示，{len(calls)} 次 API 调用（负载 {load()}）", flush=True
                )
                if shots:
                    time.sleep(1)  # the modal's transition
                    browser.screenshot(shots / f"ui-at-size-{page}-{backend}.png")
                for row in replay(calls, repeat):
                    row["page"] = page
                    rows.append(row)
    shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--full", type=int, default=20, help="runs made exactly as the intake makes them (the rest in bulk)"
    )
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("RECTIFY_BENCH_PREFECT_POSTGRES_URL")
        or os.environ.get("RECTIFY_TEST_PREFECT_POSTGRES_URL"),
    )
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("已终止"))  # servers stopped on the way out

    results: dict[str, list[dict]] = {}
    for backend in args.backends.split(","):
        if backend == "postgres" and not args.pg_url:
            print("跳过 PostgreSQL：未给出 --pg-url（或 RECTIFY_BENCH_PREFECT_POSTGRES_URL）")
            continue
        results[backend] = measure(
            backend,
            args.pg_url if backend == "postgres" else None,
            args.runs,
            args.full,
            args.repeat,
            args.screenshots,
        )
        print_table(args, {backend: results[backend]})  # now: a later backend may fail

    worst = print_table(args, results)
    if {"sqlite", "postgres"} <= set(results):
        print("\nPostgreSQL / SQLite（中位数之比）：")
        sq = {(r["page"], r["call"]): r for r in results["sqlite"]}
        for r in results["postgres"]:
            if (r["page"], r["call"]) in sq:
                print(f"  {r['page']} {r['call']}: {r['median'] / sq[r['page'], r['call']]['median']:.2f}")
    print(
        f"\n最慢一次 {worst:.3f} 秒：{'达到' if worst < TARGET else '未达到'}目标 < {TARGET:g} 秒（负载 {load()}）"
    )


def print_table(args, results: dict[str, list[dict]]) -> float:
    print(f"\n== {args.runs} 个等待运行时页面的 API 调用（{args.repeat} 次重放；目标 < {TARGET:g} 秒）")
    print("| 页面 | 调用 | 后端 | 状态 | 中位数 秒 | 最大 秒 | 浏览器内 秒 | 比值（最大/目标） | 负载 |")
    print("|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for backend, rows in results.items():
        for r in rows:
            worst = max(worst, r["max"])
            browser = f"{r['browser']:.2f}" if r["browser"] is not None else "–"
            print(
                f"| {r['page']} | `{r['call']}` | {backend} | {r['status']} | {r['median']:.3f} | "
                f"{r['max']:.3f} | {browser} | {r['max'] / TARGET:.2f} | {r['load']} |",
                flush=True,
            )
    return worst


if __name__ == "__main__":
    main()
