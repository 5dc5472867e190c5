"""Benchmark: the Prefect server's cost of creating waiting runs, nothing else running.

    .venv/bin/python bench/bench_run_create.py [--items 500] [--server-checks] [--concurrency 8]

Starts `rectify server` (Prefect's server behind the guard, SQLite, a temporary PREFECT_HOME), applies the item flow's
deployment, then creates `--items` runs already waiting at a 销号申请 form (tasks/waiting_runs:
bulk creation 100 to a call; then all their forms through the guarded server's one-call route,
tasks/run_forms; then as many again in the intake's own order, batch and forms) and prints,
for each phase, the wall time and the server's CPU seconds (the server is single-core bound,
so its CPU is the figure that does not move much with the machine's load). `--server-checks`:
every run's parameters checked by the server (as before h9) instead of once here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
BIN = Path(sys.executable).parent


def main() -> None:
    from bench_tools import cpu_seconds, free_port, http_ok, load, wait_for

    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--server-checks", action="store_true")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    tmp, port = Path(tempfile.mkdtemp(prefix="bench-run-create-")), free_port()
    os.environ.update(
        PREFECT_HOME=str(tmp),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_LOGGING_LEVEL="WARNING",
        RECTIFY_RUN_CREATE_CONCURRENCY=str(args.concurrency),
    )
    print(f"负载（开始）：{load()}", flush=True)
    server = subprocess.Popen(
        [str(BIN / "rectify"), "server", "--host", "127.0.0.1", "--port", str(port)],
        stdout=open(tmp / "server.log", "w"),
        stderr=subprocess.STDOUT,
    )
    try:
        import httpx

        wait_for(lambda: http_ok(httpx, f"{os.environ['PREFECT_API_URL']}/health"), 600)
        asyncio.run(create(args, server.pid, cpu_seconds))
        print(f"负载（结束）：{load()}", flush=True)
    finally:
        server.terminate()
        server.wait(30)


async def create(args, pid: int, cpu_seconds) -> None:
    from prefect.client.orchestration import get_client

    from flows.forms import build_form
    from flows.item import rectification_item
    from rectify.waits import FormField, Wait
    from tasks import prefect_api as api
    from tasks import waiting_runs as wr
    from tasks.run_forms import LIMIT, form_values, save_forms

    wait = Wait(
        "submit",
        "submit",
        "销号申请",
        [
            FormField("summary", "整改情况", "说明", max_length=2000),
            FormField("evidence", "佐证材料", "文件", "list", max_length=500),
            FormField("submitter", "申请人", "责任人", "choice", ("刘洋", "孙丽")),
            FormField("code", "验证码", "邮件验证码", max_length=16),
        ],
        description="说明" * 300,
    )
    n = args.items
    requests = [
        {
            "code": f"BIG-{i:05d}",
            "name": f"BIG-{i:05d} 问题",
            "key": f"BIG-{i:05d}@bench",
            "tags": ["类别:班子问题", "部门:办公室", "领导:周建国"],
            "parameters": {"code": f"BIG-{i:05d}", "title": "问题描述"},
            "wait": {"key": "submit-0", "wait": wait, "tag": "待提交"},
        }
        for i in range(n)
    ]
    with api.own_retries():
        async with get_client() as client:
            deployment = await rectification_item.ato_deployment(name="rectification-item")
            dep_id = await deployment.apply()
            checked = wr.checked_here(await client.read_deployment(dep_id))
            if args.server_checks:
                checked = lambda parameters: False  # noqa: E731
            c0, t0 = cpu_seconds(pid), time.monotonic()
            made = []
            for i in range(0, n, wr.BULK):
                made += await wr._create_batch(client, dep_id, requests[i : i + wr.BULK], checked)
            c1, t1 = cpu_seconds(pid), time.monotonic()
            print(
                f"批量创建 {n} 个运行：{t1 - t0:.1f} 秒，服务器 CPU {c1 - c0:.1f} 秒"
                f"（每个 {1000 * (c1 - c0) / n:.1f} 毫秒）（负载 {load_now()}）",
                flush=True,
            )
            form, keyset = (
                form_values(build_form(wait)),
                dict(wr.suspended_at("submit-0").state_details.run_input_keyset),
            )
            await save_forms(client, [(run_id, keyset, form) for _, _, run_id in made])
            c2, t2 = cpu_seconds(pid), time.monotonic()
            print(
                f"保存 {n} 个运行的表单（{2 * n} 份输入，每次调用 {LIMIT} 份）：{t2 - t1:.1f} 秒，服务器 CPU {c2 - c1:.1f} 秒"
                f"（每个运行 {1000 * (c2 - c1) / n:.1f} 毫秒）（负载 {load_now()}）",
                flush=True,
            )
            # the same again, in the intake's order (create_waiting_runs: a batch, its forms, …)
            again = [{**r, "code": "AGAIN-" + r["code"], "key": "again@" + r["key"]} for r in requests]
            await wr.create_waiting_runs(client, dep_id, again, lambda w: build_form(wait))
            c3, t3 = cpu_seconds(pid), time.monotonic()
            print(
                f"导入的顺序（每批创建后保存其表单）{n} 个运行：{t3 - t2:.1f} 秒，服务器 CPU {c3 - c2:.1f} 秒"
                f"（每个 {1000 * (c3 - c2) / n:.1f} 毫秒；前两步合计每个 {1000 * (c2 - c0) / n:.1f} 毫秒）"
                f"（负载 {load_now()}）",
                flush=True,
            )


def load_now() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
