"""Writing the report's files: one function for the CLI, the flow and the benchmark."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from rectify.errors import RectifyError
from rectify.report.figures import Report

FORMATS = ("md", "html", "docx", "xlsx")
REPORT_STEM = "整改工作情况报告"
REGISTER_STEM = "问题整改清单"
# How the command line and the Prefect artifact name each file.
FORMAT_LABELS = {"md": "Markdown", "html": "网页（HTML）", "docx": "Word 文档",
                 "xlsx": "整改台账（Excel）"}


def parse_formats(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """"md,html" or ["md", "html"] -> the known formats in canonical order; unknown is an error."""
    if value is None:
        return list(FORMATS)
    words = value.split(",") if isinstance(value, str) else list(value)
    wanted = {w.strip().lower().lstrip(".") for w in words if w and w.strip()}
    unknown = wanted - set(FORMATS)
    if unknown or not wanted:
        raise RectifyError(
            f"未知的报告格式：{'、'.join(sorted(unknown)) or '（空）'}（可选：{','.join(FORMATS)}）"
        )
    return [f for f in FORMATS if f in wanted]


def report_paths(out_dir: Path, as_of: date, formats: list[str]) -> dict[str, Path]:
    return {
        fmt: out_dir / (f"{REGISTER_STEM}-{as_of.isoformat()}.xlsx" if fmt == "xlsx"
                        else f"{REPORT_STEM}-{as_of.isoformat()}.{fmt}")
        for fmt in formats
    }


def write_report(session: Session, report: Report, out_dir: Path, formats: list[str], *,
                 markdown: str | None = None) -> dict[str, Path]:
    """Write the requested formats into out_dir; returns {format: path}. The Excel file is the
    register as it stands now (re-importable), not replayed to the report's date. A caller
    that also needs the Markdown (the flow's artifact) passes it in rather than rendering twice."""
    from rectify.report.render import render_html, render_markdown

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = report_paths(out_dir, report.as_of, formats)
    for fmt, path in paths.items():
        if fmt == "md":
            path.write_text(markdown or render_markdown(report), encoding="utf-8")
        elif fmt == "html":
            path.write_text(render_html(report), encoding="utf-8")
        elif fmt == "docx":
            from rectify.report.docx import write_docx

            write_docx(report, path)
        elif fmt == "xlsx":
            from rectify.report.export import write_register_xlsx

            write_register_xlsx(session, path)
    return paths
