"""Benchmark: a big register through the intake on the embedded set-up, and forms afterwards.

    .venv/bin/python bench/bench_intake.py [--items 1000] [--baseline 8] [--samples 5] [--burst 100]
                                           [--ui-runs 0]

Starts `rectify server` (Prefect's server behind the guard, SQLite, a temporary PREFECT_HOME) and `rectify serve` on loopback,
as a user does on one machine, then measures in one run:
- the intake of an `--items` register (started as `intake/intake` deployment run, executed by
  `rectify serve`) until every item's run waits with its form: target <= 60 s;
- the baseline the intake replaced: `--baseline` item runs executed one process each until they
  suspend themselves, extrapolated to `--items`;
- a form (Resume with run_input, as the UI sends it) until its change is in the ledger, with
  every run waiting: median of `--samples`, target <= 10 s;
- `--burst` forms at once until all are applied: target <= 120 s, and none applied twice;
- resident memory of the server and of `rectify serve` (each with its child processes);
- `--ui-runs`: the calls the runs page and an item's page make, timed (paginate, one run, its
  inputs) once that many runs wait (extra waiting runs are made by more intake).
The load average of the machine (shared) is printed before and after.
The forms (one at a time, and the burst) are bench/bench_forms.py; what the benches share
(load, memory, CPU seconds, waits) is bench/bench_tools.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_forms import issue_codes, ledger_rows, one_form, resume_all, submitted
from bench_tools import cpu_seconds, free_port, http_ok, load, rss_mb, wait_for

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
BIN = Path(sys.executable).parent
PREFECT_PG = "postgresql+asyncpg://rectify:rectify@127.0.0.1:5432/rectify_prefect_a"


def build_register(path: Path, n: int, prefix: str) -> Path:
    from demo.register import build_cycled

    return build_cycled(path, n, prefix, "2027年6月30日")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=8)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--ui-runs", type=int, default=0)
    parser.add_argument(
        "--prefect-db",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="postgres: the server on RECTIFY_BENCH_PREFECT_PG (reset first)",
    )
    parser.add_argument(
        "--burst-in-flight",
        type=int,
        default=20,
        help="resume requests of the burst in flight at once (people pressing Resume)",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    port = free_port()
    env = dict(
        os.environ,
        PREFECT_HOME=str(tmp / "prefect"),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        RECTIFY_DATABASE_URL=f"sqlite:///{tmp / 'ledger.db'}",
        RECTIFY_OUTBOX_DIR=str(tmp / "outbox"),
        RECTIFY_REPORT_DIR=str(tmp / "reports"),
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    if args.prefect_db == "postgres":
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = os.environ.get("RECTIFY_BENCH_PREFECT_PG", PREFECT_PG)
        subprocess.run(
            [str(BIN / "prefect"), "server", "database", "reset", "-y"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run([str(BIN / "rectify"), "prefect-db"], env=env, check=True)  # JIT off, as set up
    os.environ.update(env)
    from rectify.schema import upgrade

    upgrade(env["RECTIFY_DATABASE_URL"])
    print(f"负载（开始）：{load()}；临时目录 {tmp}")
    logs = open(tmp / "server.log", "w"), open(tmp / "serve.log", "w")
    server = subprocess.Popen(
        [str(BIN / "rectify"), "server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    serve = None
    try:
        import httpx

        wait_for(lambda: http_ok(httpx, f"{env['PREFECT_API_URL']}/health"), 600)
        serve = subprocess.Popen(
            [str(BIN / "rectify"), "serve"], env=env, cwd=ROOT, stdout=logs[1], stderr=subprocess.STDOUT
        )
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            wait_for(lambda: _deployment(client, "rectification-item/rectification-item"), 180)
            intake_dep = wait_for(lambda: _deployment(client, "intake/intake"), 60)
            item_dep = _deployment(client, "rectification-item/rectification-item")
        memory = lambda: (
            f"prefect server {rss_mb(server.pid):.0f} MB，"  # noqa: E731
            f"rectify serve {rss_mb(serve.pid):.0f} MB"
        )
        cpu = lambda: (cpu_seconds(server.pid), cpu_seconds(serve.pid))  # noqa: E731
        run(args, tmp, intake_dep, item_dep, memory, cpu)
        print(f"常驻内存（结束）：{memory()}", flush=True)
        print(f"负载（结束）：{load()}", flush=True)
    finally:
        for proc in (serve, server):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _deployment(client, name: str):
    from prefect.exceptions import ObjectNotFound

    try:
        return client.read_deployment_by_name(name).id
    except ObjectNotFound:
        return None


def count_paused(client, deployment_id) -> int:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    return client.count_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
        ),
    )


class Printed(dict):
    """Each figure printed the moment it is measured (a long run keeps what it measured)."""

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        print(f"{key}：{value}（负载 {load()}）", flush=True)


def run(args, tmp: Path, intake_dep, item_dep, memory, cpu) -> dict[str, str]:
    from prefect.client.orchestration import get_client

    out: dict[str, str] = Printed()
    n = args.items
    register = build_register(tmp / "big.xlsx", n, "BIG")
    with get_client(sync_client=True) as client:
        cpu0 = cpu()
        t0 = time.monotonic()
        intake_run = client.create_flow_run_from_deployment(intake_dep, parameters={"paths": [str(register)]})
        person = _confirm(client, intake_run.id, tmp / "outbox")  # started by API: 交办确认 (issue #9)
        wait_for(lambda: count_paused(client, item_dep) >= n, 1800, every=0.5)
        # a run waits *with its form* once the intake's run creation has saved every form
        formed = wait_for(lambda: _task_end(client, intake_run.id, "启动整改事项流程"), 1800, every=0.3)
        took = max(time.monotonic() - t0, (formed - intake_run.created).total_seconds())
        target = 600 if n > 1000 else 60
        out[f"导入 {n} 项至全部流程运行等待表单"] = (
            f"{took:.1f} 秒（目标 ≤ {target} 秒，比值 {took / target:.2f}）；其中秘书的交办确认"
            f"（本脚本代她读邮件、填表、恢复运行）{person:.1f} 秒"
        )
        out["其中"] = intake_breakdown(client, intake_run.id, item_dep)
        cpu1 = cpu()
        out["导入期间 CPU（与负载关系小）"] = (
            f"Prefect 服务器 {cpu1[0] - cpu0[0]:.1f} 秒（每项 {1000 * (cpu1[0] - cpu0[0]) / n:.1f} 毫秒），"
            f"rectify serve 及其执行的导入运行 {cpu1[1] - cpu0[1]:.1f} 秒"
        )
        out[f"常驻内存（{n} 个流程运行等待）"] = memory()

        # Baseline: the old way, one process per item run that suspends itself.
        k = args.baseline
        if k > 0:
            _baseline(client, args, tmp, item_dep, out, took)

    if not args.samples and not args.burst:
        return out

    # The intake links each run in the ledger after creating it: the runs may be waiting a
    # moment before the last link is committed.
    wait_for(
        lambda: not ledger_rows("SELECT 1 FROM items WHERE code LIKE 'BIG-%' AND flow_run_id IS NULL"), 300
    )
    items = ledger_rows(
        "SELECT i.code, i.flow_run_id, p.name FROM items i JOIN people p "
        "ON p.id = i.owner_id WHERE i.code LIKE 'BIG-%' ORDER BY i.id"
    )
    samples = items[: args.samples]
    burst = items[args.samples : args.samples + args.burst]
    issued = issue_codes(samples + burst)
    latencies = [one_form(*row, issued[row[0]]) for row in samples]
    if latencies:  # --samples 0: the burst only
        med = statistics.median(latencies)
        out[f"等待中 {n} 个流程运行时提交一份表单至台账（{len(samples)} 次中位数）"] = (
            f"{med:.1f} 秒（目标 ≤ 10 秒，比值 {med / 10:.2f}；各次 "
            + "、".join(f"{x:.1f}" for x in latencies)
            + "）"
        )
    t0 = time.monotonic()
    refused = asyncio.run(resume_all(burst, issued, args.burst_in_flight))
    codes = [c for c, _, _ in burst if c not in refused]
    wait_for(lambda: submitted(codes) == len(codes), 600, every=1)
    took = time.monotonic() - t0
    twice = ledger_rows(
        "SELECT count(*) FROM audit_records a JOIN items i ON i.id = a.item_id "
        "WHERE a.action = 'submit' AND i.code LIKE 'BIG-%' GROUP BY a.item_id "
        "HAVING count(*) > 1"
    )
    out[f"同时提交 {len(burst)} 份表单至全部写入台账"] = (
        f"{took:.1f} 秒（目标 ≤ 120 秒，比值 {took / 120:.2f}）；重复写入 {len(twice)} 项；"
        f"同时在途 {args.burst_in_flight} 个请求；服务器在重试时限内未受理 {len(refused)} 份"
        + (f"（{'；'.join(sorted(set(refused.values())))}）" if refused else "")
    )
    return out


def _task_end(client, run_id, name: str):
    """When the flow run's task `name` ended (None while it runs); raises if the run failed."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    if client.read_flow_run(run_id).state.is_failed():
        raise SystemExit("导入运行失败，见 rectify serve 的日志")
    tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    return next((t.end_time for t in tasks if t.name.startswith(name) and t.end_time), None)


def intake_breakdown(client, run_id, item_dep) -> str:
    """Where the intake's time went: until its process started, then each task run, and within
    the run creation the span over which the item runs were created (the rest: their forms)."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterId,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    wait_for(lambda: client.read_flow_run(run_id).state.is_final(), 300, every=1)
    run = client.read_flow_run(run_id)
    tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    parts = [f"启动导入运行 {(run.start_time - run.created).total_seconds():.1f} 秒"]
    for t in sorted(tasks, key=lambda t: t.start_time or run.start_time):
        if t.start_time and t.end_time:
            parts.append(f"{t.name} {(t.end_time - t.start_time).total_seconds():.1f} 秒")
    items = DeploymentFilter(id=DeploymentFilterId(any_=[item_dep]))
    ends = [
        client.read_flow_runs(deployment_filter=items, sort=order, limit=1)[0].created
        for order in (FlowRunSort.EXPECTED_START_TIME_ASC, FlowRunSort.EXPECTED_START_TIME_DESC)
    ]
    parts.append(f"其中建立流程运行 {(ends[1] - ends[0]).total_seconds():.1f} 秒（其余为保存表单）")
    return "；".join(parts) + f"（导入运行共 {(run.end_time - run.created).total_seconds():.1f} 秒）"


def _baseline(client, args, tmp: Path, item_dep, out, took: float) -> None:
    """The old way, one process per item run that suspends itself, extrapolated to --items."""
    n, k = args.items, args.baseline
    small = build_register(tmp / "base.xlsx", k, "OLD")
    _import_only(small)
    codes = [f"OLD-{i + 1:05d}" for i in range(k)]
    t0 = time.monotonic()
    for code in codes:
        client.create_flow_run_from_deployment(item_dep, parameters={"code": code}, name=code)
    wait_for(lambda: count_paused(client, item_dep) >= n + k, 900, every=1)
    per = (time.monotonic() - t0) / k
    out[f"对照：逐项执行流程运行（{k} 项实测）"] = (
        f"每项 {per:.2f} 秒，外推 {n} 项约 {per * n:.0f} 秒，为本方案的 {per * n / took:.1f} 倍"
    )


def _confirm(client, run_id, outbox: Path) -> float:
    """The secretary's 交办确认 on the intake run, with the code of her email; returns the
    seconds from seeing the run wait to her Resume (the person's part of the time)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from mail_codes import latest_act
    from prefect.flow_runs import resume_flow_run

    def paused():
        state = client.read_flow_run(run_id).state
        return state.is_paused() and state.state_details.pause_key == "confirm-0"

    wait_for(paused, 900, every=0.2)
    seen = time.monotonic()
    code = wait_for(
        lambda: _try(lambda: latest_act(outbox, "chenjing@xxj.example.gov.cn", "交办确认")), 120, every=0.2
    )[0]
    schema = client.read_flow_run_input(run_id, "suspended-confirm-0-schema")
    import json

    items = json.loads(schema)["properties"]["items"]["default"]
    resume_flow_run(run_id, run_input={"items": items, "secretary": "陈静", "code": code})
    return time.monotonic() - seen


def _try(check):
    try:
        return check()
    except AssertionError:
        return None


def _import_only(path: Path) -> None:
    from rectify.importer import import_register
    from rectify.item_process import transaction
    from rectify.settings import get_settings, office_today
    from rectify.workdays import get_calendar

    settings = get_settings()
    with transaction(settings.database_url) as session:
        import_register(
            session, [path], day=office_today(), calendar=get_calendar(None), immediate_days=5, actor="陈静"
        )


if __name__ == "__main__":
    main()
