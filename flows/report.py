"""`next-steps-report`: the office's status report compiled from the ledger as of a date.

Writes Markdown, HTML, Word and the register as Excel into the report folder, and publishes the
Markdown as the artifact `next-steps-report` (each run adds a version under the same key) and
the list of files as `next-steps-report-files`. Scheduled weekly in prefect.yaml.

Started from a deployment (the UI's Run, REST: anyone with the UI password) `out_dir` is confined
to the report folder (RECTIFY_REPORT_DIR, by default `reports` under RECTIFY_HOME): a relative
path is taken inside it, anything that resolves outside it (an absolute path elsewhere, `..`,
a symbolic link) is refused in one line and nothing is written. The console (`rectify report
--out`, in-process) writes where the operator says.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import deployment as current_deployment
from prefect.states import Failed, State

from rectify.report import FORMATS, parse_formats
from rectify.settings import get_settings, office_today
from tasks.naming import report_run_name
from tasks.report import publish_report, write_report_files


@flow(name="next-steps-report", log_prints=False, flow_run_name=report_run_name)
def next_steps_report(
    as_of: date | None = None, out_dir: str | None = None, formats: list[str] = list(FORMATS)
) -> dict[str, str] | State:
    """编制整改工作情况报告（下一步打算）：截至指定日期（默认北京时间今天）。"""
    settings = get_settings()
    as_of = as_of or office_today(settings)
    wanted = parse_formats(formats)
    target = out_dir or settings.report_dir
    if out_dir and current_deployment.id is not None:
        target = confined(out_dir, settings.report_dir)
        if isinstance(target, str):
            get_run_logger().error(target)
            return Failed(message=target)
    result = write_report_files(as_of, str(target), wanted)
    publish_report(result, as_of)
    return result["paths"]


def confined(out_dir: str, root: Path) -> Path | str:
    """`out_dir` inside the report folder `root` (relative: under it), or the line refusing it."""
    base = Path(root).expanduser().resolve()
    path = (base / Path(out_dir).expanduser()).resolve()
    if path == base or base in path.parents:
        return path
    return f"从界面或接口启动的报告只能写入报告目录 {base} 或其子目录，不能写入 {out_dir}；未写入任何文件"
