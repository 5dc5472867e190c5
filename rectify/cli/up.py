"""`rectify up`: the whole single-machine set-up in one command and one terminal; `rectify
server`: the Prefect server alone (several machines).

Without it a newcomer needs three terminals with the same exports in each: the server, `rectify
init` + `rectify serve`, and one for the work. The server is always Prefect's app behind the
project's guard (flows/api_guard.py: nobody can delete, write or force a wait's stored answer
through the API), run as `prefect server start` runs it; never plain `prefect server start`.
`up` starts it as a child process (its own process group, so the terminal's Ctrl-C reaches only this process),
waits until its health endpoint answers, runs the ledger migrations, serves every deployment of
prefect.yaml through `rectify serve`'s own code, and says where everything is. On Ctrl-C the
served deployments are paused first (Prefect's runner does that on the way out, and it needs
the server for it), then the server is stopped.

Everything lives under one data folder (RECTIFY_HOME, by default the working directory):
the ledger, the outbox, the reports, and Prefect's own database (PREFECT_HOME, unless set).
Prefect's database on PostgreSQL (PREFECT_API_DATABASE_CONNECTION_URL) gets `rectify prefect-db`'s
settings before the server starts (rectify/cli/prefect_db.py: JIT off).
Beyond loopback the API is open to the network, so `up` refuses to start without basic auth
(PREFECT_SERVER_API_AUTH_STRING, `用户名:密码`), which it hands to the server and to its own
client. Prefect is imported only once the environment is settled: its settings are read then.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from rectify.cli.commands import app
from rectify.cli.common import ctrl_c_stops, errors, fail

WILDCARDS = {"0.0.0.0", "::", ""}
AUTH = "PREFECT_SERVER_API_AUTH_STRING"
STOP_SECONDS = 30  # a server that ignores SIGINT this long is terminated, then killed


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_url(host: str, port: int) -> str:
    """The address this process (and a browser on this machine) reaches the API at."""
    if host in WILDCARDS:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/api"


def auth_string(host: str, command: str = "rectify up") -> str | None:
    """Basic auth for a server reachable from other machines; None on loopback."""
    value = os.environ.get(AUTH) or os.environ.get("PREFECT_API_AUTH_STRING")
    if is_loopback(host):
        return value or None
    if not value or ":" not in value:
        raise fail(
            f"监听地址 {host} 不是本机回环地址，其他机器可以访问：请先设置环境变量 "
            f"{AUTH}=用户名:密码（基本认证），再运行 {command}"
        )
    return value


def server_env(host: str, port: int, auth: str | None) -> dict[str, str]:
    env = dict(os.environ, COLUMNS="500")  # Prefect's messages one per line, for last_line()
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if host not in WILDCARDS:  # the UI in the browser asks the API at this address
        env.setdefault("PREFECT_UI_API_URL", api_url(host, port))
    if auth:
        env[AUTH] = auth
    return env


def start_server(host: str, port: int, auth: str | None, log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "flows.api_guard", "--host", host, "--port", str(port)],
            env=server_env(host, port, auth),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def wait_healthy(server: subprocess.Popen, url: str, timeout: float, log: Path) -> None:
    """Until /api/health answers 200, the server exits, or the time is up."""
    import urllib.request  # here, not at the top: `rectify list` loads this module too

    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise fail(
                f"Prefect 服务器未能启动（退出码 {server.returncode}）：{last_line(log)}（完整日志：{log}）"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise fail(
                f"Prefect 服务器在 {timeout:g} 秒内未就绪（{url}），请查看日志 {log}，"
                "或用 --wait 延长等待时间"
            )
        time.sleep(0.5)


def last_line(log: Path) -> str:
    try:
        lines = [s for s in log.read_text(encoding="utf-8", errors="replace").splitlines() if s.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def stop_server(server: subprocess.Popen) -> None:
    """SIGINT to the server's process group (uvicorn shuts down cleanly), then harder."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if server.poll() is not None:
            break
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            break
        try:
            server.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            continue


def pause_served(names: set[str]) -> int:
    """Pause the served deployments on the server, whatever way serving ended: Prefect's runner
    pauses them on SIGTERM once it has started, but not on Ctrl-C (KeyboardInterrupt) nor when
    interrupted while starting. Returns how many are paused."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        deployments = [d for d in client.read_deployments() if d.name in names]
        for deployment in deployments:
            client.pause_deployment(deployment.id)
    return len(deployments)


def where(settings, url: str, log: Path) -> list[str]:
    from sqlalchemy.engine import make_url

    ui = url.removesuffix("/api")
    ledger = make_url(settings.database_url)
    ledger_text = (
        ledger.database
        if ledger.drivername.startswith("sqlite")
        else ledger.render_as_string(hide_password=True)
    )
    return [
        f"Prefect 界面：{ui}/runs",
        f"台账：{ledger_text}",
        f"发件箱（未配置 SMTP 时的 .eml 邮件）：{settings.outbox_dir}",
        f"报告：{settings.report_dir}",
        f"Prefect 服务器日志：{log}",
        f"其他终端使用同一套环境：export RECTIFY_HOME={settings.home} PREFECT_API_URL={url}",
        "按 Ctrl-C 停止（先暂停部署，再停止服务器）",
    ]


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Prefect 服务器监听地址（默认仅本机）")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Prefect 服务器端口")] = 4200,
    home: Annotated[
        Optional[Path],
        typer.Option(
            help="数据目录：台账、发件箱、报告和 Prefect 数据库（默认取 RECTIFY_HOME，否则为当前目录）"
        ),
    ] = None,
    config: Annotated[
        Optional[Path], typer.Option(help="部署配置文件（默认：项目中的 prefect.yaml）")
    ] = None,
    poll: Annotated[Optional[float], typer.Option(help="查询待执行流程运行的间隔秒数")] = None,
    wait: Annotated[float, typer.Option(help="等待 Prefect 服务器就绪的最长秒数")] = 120,
) -> None:
    """单机一键启动：Prefect 服务器、台账数据库结构、全部部署；Ctrl-C 依次停止。"""
    from rectify.settings import get_settings

    ctrl_c_stops()

    if not 0 < port < 65536:
        raise fail(f"端口 {port} 无效，应为 1–65535")
    if home is not None:
        os.environ["RECTIFY_HOME"] = str(home.expanduser().absolute())
    get_settings.cache_clear()
    settings = get_settings()
    auth = auth_string(host)
    home = settings.home or Path.cwd()  # always set once the settings are read
    # every process started from here (the served flow runs) agrees on the same data folder
    os.environ["RECTIFY_HOME"] = str(home)
    with errors():
        home.mkdir(parents=True, exist_ok=True)
        from rectify.schema import upgrade

        upgrade(settings.database_url)
        from rectify import code_key

        code_key.current()  # the 验证码 key: $RECTIFY_HOME/code.key (0600) unless RECTIFY_CODE_SECRET

    from rectify.cli.prefect_db import is_postgres, prefect_database_url, tune_line

    prefect_db = prefect_database_url()
    if prefect_db and is_postgres(prefect_db):  # before the server opens its connections
        typer.echo(tune_line(prefect_db))

    url = api_url(host, port)
    os.environ["PREFECT_API_URL"] = url
    os.environ.setdefault("PREFECT_HOME", str(home / "prefect"))  # results of runs too
    if auth:
        os.environ["PREFECT_API_AUTH_STRING"] = auth
    log = Path(os.environ["PREFECT_HOME"]) / "server.log"
    typer.echo(f"正在启动 Prefect 服务器（{host}:{port}）……")
    server = start_server(host, port, auth, log)
    try:
        wait_healthy(server, url, wait, log)
        typer.echo("\n".join(where(settings, url, log)))
        from rectify.cli.flows import PROJECT, load_deployment_specs, serve

        names = {spec["name"] for spec in load_deployment_specs(config or PROJECT / "prefect.yaml")}
        try:
            serve(config=config, limit=None, poll=poll)  # returns after Ctrl-C
        except KeyboardInterrupt:
            pass
        try:
            typer.echo(f"已暂停部署 {pause_served(names)} 个")
        except Exception as exc:  # the server is going away anyway: say so, do not trace back
            typer.echo(f"提示：未能暂停部署：{(str(exc).splitlines() or [type(exc).__name__])[0]}", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        typer.echo("正在停止 Prefect 服务器……")
        stop_server(server)
    typer.echo("已停止")


@app.command()
def server(
    host: Annotated[
        Optional[str], typer.Option(help="监听地址（默认取 PREFECT_SERVER_API_HOST，即仅本机）")
    ] = None,
    port: Annotated[
        Optional[int], typer.Option(help="端口（默认取 PREFECT_SERVER_API_PORT，即 4200）")
    ] = None,
) -> None:
    """Prefect 服务器（界面与接口），带整改台账防护：代替 prefect server start。"""
    if port is not None and not 0 < port < 65536:
        raise fail(f"端口 {port} 无效，应为 1–65535")
    auth = auth_string(host or os.environ.get("PREFECT_SERVER_API_HOST") or "127.0.0.1", "rectify server")
    if auth:  # the server's own setting, read when Prefect is imported below
        os.environ[AUTH] = auth
    from flows.api_guard import serve

    serve(host, port)
