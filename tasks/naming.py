"""Run names a secretary recognises in the Prefect UI (instead of Prefect's random words)."""

from __future__ import annotations

from pathlib import PurePath

from prefect.runtime import flow_run

from rectify.settings import office_today


def _day(param: str) -> str:
    return str(flow_run.parameters.get(param) or office_today())


def sweep_run_name() -> str:
    dry = "（试运行）" if flow_run.parameters.get("dry_run") else ""
    return f"催办 {_day('day')}{dry}"


def report_run_name() -> str:
    return f"情况报告 截至{_day('as_of')}"


def intake_run_name() -> str:
    names = "、".join(PurePath(p).name for p in flow_run.parameters.get("paths") or [])
    return f"导入 {names}".strip()
