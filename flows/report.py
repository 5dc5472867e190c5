"""`next-steps-report`: the office's status report compiled from the ledger as of a date.

Writes Markdown, HTML, Word and the register as Excel into the report folder, and publishes the
Markdown as the artifact `next-steps-report` (each run adds a version under the same key) and
the list of files as `next-steps-report-files`. Scheduled weekly in prefect.yaml.
"""

from __future__ import annotations

from datetime import date

from prefect import flow

from rectify.report import FORMATS, parse_formats
from rectify.settings import get_settings, office_today
from tasks.naming import report_run_name
from tasks.report import publish_report, write_report_files


@flow(name="next-steps-report", log_prints=False, flow_run_name=report_run_name)
def next_steps_report(as_of: date | None = None, out_dir: str | None = None,
                      formats: list[str] = list(FORMATS)) -> dict[str, str]:
    """编制整改工作情况报告（下一步打算）：截至指定日期（默认北京时间今天）。"""
    settings = get_settings()
    as_of = as_of or office_today(settings)
    wanted = parse_formats(formats)
    result = write_report_files(as_of, str(out_dir or settings.report_dir), wanted)
    publish_report(result, as_of)
    return result["paths"]
