"""`rectify serve`: every deployment of prefect.yaml served from one process (single machine).

prefect.yaml is the one place that says which deployments exist, with their parameters and
schedules; `prefect deploy --all` reads it for a work pool, and this command reads the same
file for `prefect.serve`, so the two set-ups cannot drift apart. Prefect is imported inside the
command only: `rectify list` / `show` stay fast.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from rectify.cli.commands import app
from rectify.cli.common import ctrl_c_stops, fail

PROJECT = Path(__file__).resolve().parents[2]
log = logging.getLogger("rectify.serve")
# A resumed item run (a form submitted in the UI, `rectify submit`) is a scheduled run that this
# process has to notice; Prefect's default of 10 s feels like the form did nothing. One query of
# Scheduled runs a second is cheap for the server (an indexed read, even with 10,000 runs waiting).
DEFAULT_POLL_SECONDS = 1.0


def load_deployment_specs(path: Path) -> list[dict]:
    import yaml

    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"无法读取部署配置 {path}：{exc.strerror}") from None
    return list(spec.get("deployments") or [])


def load_flow(entrypoint: str):
    """`flows/item.py:rectification_item` -> the flow object."""
    file, _, attr = entrypoint.partition(":")
    module = file.removesuffix(".py").replace("/", ".")
    return getattr(importlib.import_module(module), attr)


def build_deployments(specs: list[dict]) -> list:
    return [deployment for deployment, _ in build_served(specs)]


def build_served(specs: list[dict]) -> list[tuple]:
    """(deployment, its flow object) for every deployment of prefect.yaml whose flow loads."""
    from prefect.schedules import Cron

    served = []
    for spec in specs:
        flow_obj = load_flow(spec["entrypoint"])
        schedules = [
            Cron(s["cron"], timezone=s.get("timezone", "Asia/Shanghai"))
            for s in spec.get("schedules") or []
            if s.get("cron")
        ]
        served.append(
            (
                flow_obj.to_deployment(
                    name=spec["name"],
                    description=spec.get("description"),
                    parameters=spec.get("parameters") or {},
                    schedules=schedules or None,
                    tags=spec.get("tags"),
                ),
                flow_obj,
            )
        )
    return served


@app.command()
def serve(
    config: Annotated[
        Optional[Path], typer.Option(help="部署配置文件（默认：项目中的 prefect.yaml）")
    ] = None,
    limit: Annotated[
        Optional[int], typer.Option(help="同时执行的流程运行数上限（默认 4，或环境变量 RECTIFY_SERVE_LIMIT）")
    ] = None,
    poll: Annotated[
        Optional[float],
        typer.Option(
            help=f"查询待执行流程运行的间隔秒数（默认 {DEFAULT_POLL_SECONDS:g}，"
            "或环境变量 PREFECT_RUNNER_POLL_FREQUENCY）"
        ),
    ] = None,
) -> None:
    """在一个进程中提供全部部署（整改清单导入、整改事项、到期催办、情况报告），单机使用。

    停止本命令会暂停这些部署的定时计划，重新启动即恢复。
    """
    from flows.serve_runner import serve_forked
    from rectify.settings import get_settings

    ctrl_c_stops()
    # Never unbounded (Prefect's serve() takes None as "no limit"): a burst of resumes queues
    # here instead of starting a process per run at once.
    limit = get_settings().serve_limit if limit is None else limit
    if limit < 1:
        raise fail("--limit 须为正整数")
    served = build_served(load_deployment_specs(config or PROJECT / "prefect.yaml"))
    if not served:
        raise fail("prefect.yaml 中没有可用的部署")
    typer.echo("正在提供部署：" + "、".join(d.name for d, _ in served))
    # Each run is a fork of a server that has imported Prefect and the flows once
    # (flows/serve_runner.py): a form reaches the ledger without a fresh `import prefect`.
    serve_forked(
        [d for d, _ in served], [f for _, f in served], limit=limit, query_seconds=poll_seconds(poll)
    )


def poll_seconds(option: float | None) -> float | None:
    """--poll, else Prefect's own setting when the environment sets it, else our default."""
    if option is not None:
        if option <= 0:
            raise fail("--poll 须为正数（秒）")
        return option
    return None if os.environ.get("PREFECT_RUNNER_POLL_FREQUENCY") else DEFAULT_POLL_SECONDS
