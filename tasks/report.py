"""Thin Prefect tasks around rectify.report: compile and write the files, publish artifacts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from models.db import session_factory
from rectify.report.output import FORMAT_LABELS, produce_report
from rectify.report.wording import cn_date
from rectify.settings import get_settings, office_today

REPORT_KEY = "next-steps-report"
FILES_KEY = "next-steps-report-files"
# The Prefect UI renders artifact Markdown in the browser; beyond this the artifact keeps
# sections 一 and 二 in full and points to the files for the complete next-steps list.
ARTIFACT_LIMIT = 1_000_000


@task(
    name="编制整改情况报告",
    task_run_name="编制整改情况报告",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=10,
)
def write_report_files(as_of: date, out_dir: str, formats: list[str]) -> dict:
    """One read-only session: compile as of the date, write every format. Idempotent: a retry
    overwrites the same files."""
    settings = get_settings()
    with session_factory(settings.database_url)() as session:
        done = produce_report(session, as_of, Path(out_dir), formats, settings, dated=office_today(settings))
    get_run_logger().info(
        "%s：共%d个问题，写入 %s",
        done.report.summary_sentence,
        done.report.summary.total,
        "、".join(str(p) for p in done.paths.values()),
    )
    return {
        "paths": {k: str(v) for k, v in done.paths.items()},
        "markdown": done.markdown,
        "summary": done.report.summary_sentence,
    }


def artifact_markdown(markdown: str, limit: int = ARTIFACT_LIMIT) -> str:
    if len(markdown) <= limit:
        return markdown
    cut = markdown.find("\n## 三、下一步打算")
    cut = cut if 0 < cut <= limit else markdown.rfind("\n", 0, limit)
    return markdown[:cut] + "\n\n> 报告篇幅较大，此处从略，完整内容见报告文件。\n"


@task(name="发布报告", task_run_name="发布报告", cache_policy=NO_CACHE)
def publish_report(result: dict, as_of: date) -> None:
    create_markdown_artifact(
        markdown=artifact_markdown(result["markdown"]),
        key=REPORT_KEY,
        description=f"整改工作情况报告（截至{cn_date(as_of)}）",
    )
    lines = [f"# 报告文件（截至{cn_date(as_of)}）", ""]
    for fmt, path in result["paths"].items():
        lines.append(f"- [{FORMAT_LABELS[fmt]}]({Path(path).resolve().as_uri()})：`{path}`")
    create_markdown_artifact(
        markdown="\n".join(lines) + "\n", key=FILES_KEY, description="本次报告写出的文件"
    )
