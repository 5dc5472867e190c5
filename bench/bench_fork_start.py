"""Benchmark: how long a run's process takes to be ready to execute the flow, started the way
Prefect 3.9.1 starts it (multiprocessing spawn: a new interpreter importing Prefect and the
flow) and the way `rectify serve` starts it now (a fork of a server that imported them once,
flows/serve_runner.py).

    .venv/bin/python bench/bench_fork_start.py [--runs 3]

Prints each start in seconds with the load average; the fork server's own start (paid once,
when `rectify serve` starts) is printed apart.
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.forkserver
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
MODULES = ["prefect.flow_engine", "flows.item"]


def child(queue, started: float) -> None:
    import prefect.flow_engine  # noqa: F401
    import flows.item  # noqa: F401

    queue.put(time.time() - started)


def starts(method: str, n: int) -> list[float]:
    ctx = multiprocessing.get_context(method)
    out = []
    for _ in range(n):
        queue = ctx.Queue()
        proc = ctx.Process(target=child, args=(queue, time.time()))
        proc.start()
        out.append(queue.get())
        proc.join()
    return out


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    n = parser.parse_args().runs
    spawned = starts("spawn", n)
    print(
        f"spawn（新解释器导入 Prefect 与流程）：{'、'.join(f'{x:.2f}' for x in spawned)} 秒（负载 {load()}）"
    )
    multiprocessing.set_forkserver_preload(MODULES)
    t0 = time.time()
    multiprocessing.forkserver.ensure_running()
    starts("forkserver", 1)  # the first fork waits for the server's preload
    print(
        f"fork server 启动并预先导入（rectify serve 启动时一次）：{time.time() - t0:.2f} 秒（负载 {load()}）"
    )
    forked = starts("forkserver", n)
    print(f"forkserver（分叉预先导入的进程）：{'、'.join(f'{x:.2f}' for x in forked)} 秒（负载 {load()}）")


if __name__ == "__main__":
    main()
