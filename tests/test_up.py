"""`rectify up` as a newcomer runs it: a real subprocess on a free port with a temporary data
folder, started from another folder. It must bring up the Prefect server (healthy), create the
ledger under RECTIFY_HOME, serve the four deployments (behind the project's API guard), and on Ctrl-C (SIGINT) pause them first
and then stop the server: afterwards no process of either is left and Prefect's own database
(under the data folder too) records every deployment as paused.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from processes import free_port, pids_with, wait_for

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
DEPLOYMENTS = {"intake", "rectification-item", "deadline-watch", "next-steps-report"}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh terminal: no ledger, Prefect or data-folder settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RECTIFY_", "PREFECT_")) or k == "PREFECT_SERVER_ANALYTICS_ENABLED"
    }
    env.update(DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false", **extra)
    return env


def test_up_serves_everything_and_stops_in_order(tmp_path):
    import httpx

    home, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    out = tmp_path / "up.log"
    with out.open("wb") as log:
        up = subprocess.Popen(
            [str(BIN / "rectify"), "up", "--port", str(port), "--poll", "1"],
            env=clean_env(RECTIFY_HOME=str(home)),
            cwd=elsewhere,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    api = f"http://127.0.0.1:{port}/api"
    try:
        # ceilings for a machine running two suites at once (load 28: the served deployments
        # were still missing after 180 s), not speed bars
        wait_for(
            "the health endpoint",
            lambda: httpx.get(f"{api}/health", timeout=2).status_code == 200,
            timeout=600,
        )

        def served() -> set[str]:
            response = httpx.post(f"{api}/deployments/filter", json={}, timeout=5)
            names = {d["name"] for d in response.json() if not d["paused"]}
            return names if names == DEPLOYMENTS else set()

        wait_for("four served deployments", served, timeout=600)
        text = out.read_text(encoding="utf-8")
        assert f"Prefect 界面：http://127.0.0.1:{port}/runs" in text
        assert (
            f"台账：{home / 'rectify.db'}" in text
            and f"发件箱（未配置 SMTP 时的 .eml 邮件）：{home / 'outbox'}" in text
        )
        with sqlite3.connect(home / "rectify.db") as ledger:  # migrated, under the data folder
            assert ledger.execute("SELECT version_num FROM alembic_version").fetchone()
        assert not (elsewhere / "rectify.db").exists()
        assert pids_with("flows.api_guard", "--port", str(port))
        # the guarded server (flows/api_guard.py), not plain `prefect server start`
        refused = httpx.delete(f"{api}/flow_runs/{'0' * 8}-0000-0000-0000-{'0' * 12}/input/x-response")
        assert refused.status_code == 403 and "整改台账服务器防护" in refused.json()["detail"]

        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=600) == 0, out.read_text(encoding="utf-8")
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
            # a failed test must not leave up's server behind (its own session): found running
            # 15 minutes after a timed-out run
            for pid in pids_with("flows.api_guard", "--port", str(port)):
                os.killpg(pid, signal.SIGKILL)
    assert not pids_with("flows.api_guard", "--port", str(port)), "the Prefect server outlived rectify up"
    with socket.socket() as s:  # nothing listens any more
        assert s.connect_ex(("127.0.0.1", port)) != 0
    with sqlite3.connect(home / "prefect" / "prefect.db") as prefect_db:
        paused = dict(prefect_db.execute("SELECT name, paused FROM deployment"))
    assert paused == {name: 1 for name in DEPLOYMENTS}  # paused before the server went away
    text = out.read_text(encoding="utf-8")
    assert text.index("已暂停部署 4 个") < text.index("正在停止 Prefect 服务器") < text.index("已停止")


def test_up_beyond_loopback_requires_basic_auth(tmp_path):
    result = subprocess.run(
        [
            str(BIN / "rectify"),
            "up",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
            "--home",
            str(tmp_path),
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "错误：监听地址 0.0.0.0 不是本机回环地址，其他机器可以访问：请先设置环境变量 "
        "PREFECT_SERVER_API_AUTH_STRING=用户名:密码（基本认证），再运行 rectify up"
    )
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_up_says_why_when_the_server_cannot_start(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(BIN / "rectify"), "up", "--port", str(port), "--home", str(tmp_path)],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 1
    assert (
        "错误：Prefect 服务器未能启动" in result.stderr and "Traceback" not in result.stderr + result.stdout
    )
    assert f"端口 {port} 已被占用" in result.stderr  # the server's own line names the port in use


def test_server_env_sets_auth_for_server_and_ui_address(monkeypatch):
    from rectify.cli.up import api_url, is_loopback, server_env

    monkeypatch.delenv("PREFECT_UI_API_URL", raising=False)
    env = server_env("10.0.0.5", 4300, "admin:s3cret")
    assert env["PREFECT_SERVER_API_AUTH_STRING"] == "admin:s3cret"
    assert env["PREFECT_UI_API_URL"] == "http://10.0.0.5:4300/api"
    assert api_url("0.0.0.0", 4200) == "http://127.0.0.1:4200/api"
    assert api_url("::1", 4200) == "http://[::1]:4200/api"
    assert [is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "10.0.0.5", "example")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
