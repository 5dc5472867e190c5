"""A flow `rectify serve` runs in tests/test_serve_fork.py to show how its runs are started.

It writes, for the test to read, the process it ran in and that process's parent; it can also
hold on (for a Cancel from the UI) or die hard (a crash must end this run only).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from prefect import flow, get_run_logger


@flow(name="serve-probe")
def probe(out: str, hold: float = 0.0, crash: bool = False) -> None:
    parent = os.getppid()
    record = {
        "pid": os.getpid(),
        "parent": parent,
        "started": time.time(),
        "parent_cmdline": Path(f"/proc/{parent}/cmdline").read_bytes().decode(errors="replace"),
        "grandparent": int(Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[1]),
    }
    Path(out).write_text(json.dumps(record), encoding="utf-8")
    get_run_logger().info("探针运行于进程 %s", os.getpid())
    if crash:
        os._exit(3)  # no exception, no state: the process is simply gone
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline:
        time.sleep(0.2)
    Path(out).write_text(json.dumps({**record, "ended": time.time()}), encoding="utf-8")
