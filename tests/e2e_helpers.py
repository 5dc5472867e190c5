"""What the end-to-end tests start as real processes: the Prefect server as every documented
set-up runs it (`rectify server`: Prefect's app behind flows/api_guard.py) with its own home
and ledger, headless Chromium over the DevTools protocol, the `rectify` command line; each
child in its own process group, killed at the end whatever happens. Used by the UI, Markdown,
serve-fork and several-machines tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from processes import free_port, wait_for


BIN = Path(sys.executable).parent


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Processes:
    """Every child started here is its own process group, killed at the end whatever happens."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.children: list[subprocess.Popen] = []

    def start(self, name: str, args: list[str], env: dict) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")
        proc = subprocess.Popen(
            args, env=env, cwd=self.logs, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.children.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.children):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.children):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


@contextlib.contextmanager
def prefect_server(tmp_path: Path, extra_env: dict[str, str], *, health_timeout: float = 180):
    """`rectify server` (the guarded Prefect server) on a free loopback port with its own PREFECT_HOME, a migrated
    ledger in tmp_path, and the server healthy: yields (procs, api, port, env). Every process
    started through `procs` is stopped at the end."""
    procs = Processes(tmp_path)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        "DO_NOT_TRACK": "1",
        "RECTIFY_DATABASE_URL": f"sqlite:///{tmp_path / 'rectify.db'}",
        "RECTIFY_OUTBOX_DIR": str(tmp_path / "outbox"),
        "RECTIFY_REPORT_DIR": str(tmp_path / "reports"),
        **{k: v.format(port=port) for k, v in extra_env.items()},
    }
    env.pop("PREFECT_API_KEY", None)
    try:
        procs.start(
            "server", [str(BIN / "rectify"), "server", "--host", "127.0.0.1", "--port", str(port)], env
        )
        subprocess.run([str(BIN / "rectify"), "init"], env=env, cwd=tmp_path, check=True, capture_output=True)
        import httpx

        wait_for(
            "prefect server", lambda: httpx.get(f"{api}/health").status_code == 200, timeout=health_timeout
        )
        yield procs, api, port, env
    finally:
        procs.stop()


def rectify(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "rectify"), *args],
        env=stack["env"],
        cwd=stack["tmp"],
        capture_output=True,
        text=True,
        timeout=600,
    )


@contextlib.contextmanager
def chromium(tmp: Path):
    """Headless Chromium driven over the DevTools protocol (websockets): yields call(method,
    **params) -> result for its one page; the browser is killed afterwards."""
    from websockets.sync.client import connect
    import httpx

    port = free_port()
    procs = Processes(tmp)
    procs.start(
        "chromium",
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--lang=zh-CN",
            f"--user-data-dir={tmp / 'chromium'}",
            "--window-size=1440,1000",
            f"--remote-debugging-port={port}",
            "about:blank",
        ],
        os.environ.copy(),
    )
    try:
        targets = wait_for(
            "chromium",
            lambda: [
                t
                for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                if t["type"] == "page"
            ],
        )
        with connect(targets[0]["webSocketDebuggerUrl"], max_size=None) as ws:
            counter = iter(range(1, 10_000))

            def call(method, **params):
                n = next(counter)
                ws.send(json.dumps({"id": n, "method": method, "params": params}))
                while True:
                    msg = json.loads(ws.recv(timeout=30))
                    if msg.get("id") == n:
                        return msg.get("result", {})

            call(
                "Emulation.setDeviceMetricsOverride",
                width=1440,
                height=1000,
                deviceScaleFactor=1,
                mobile=False,
            )
            yield call
    finally:
        procs.stop()
