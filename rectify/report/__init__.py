"""The status report (整改工作情况报告 / 下一步打算) compiled from the ledger as of a date,
rendered to Markdown, HTML and Word, and the register exported back to Excel. No Prefect here:
flows/report.py wraps these functions."""

from rectify.report.contents import Report
from rectify.report.figures import compile_report
from rectify.report.output import FORMATS, parse_formats, write_report

__all__ = ["FORMATS", "Report", "compile_report", "parse_formats", "write_report"]
