"""Writing the report's files: one function for the CLI, the flow and the benchmark."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from dataclasses import dataclass

from sqlalchemy.orm import Session

from rectify.errors import RectifyError
from rectify.report.contents import Report
from rectify.report.wording import office_of
from rectify.settings import Settings

FORMATS = ("md", "html", "docx", "xlsx")
# Written only when asked for (`--format pdf`): it needs LibreOffice.
OPTIONAL_FORMATS = ("pdf",)
REPORT_STEM = "整改工作情况报告"
REGISTER_STEM = "问题整改清单"
# How the command line and the Prefect artifact name each file.
FORMAT_LABELS = {
    "md": "Markdown",
    "html": "网页（HTML）",
    "docx": "Word 文档",
    "xlsx": "整改台账（Excel）",
    "pdf": "PDF（LibreOffice 转换）",
}


def parse_formats(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """ "md,html" or ["md", "html"] -> the known formats in canonical order; unknown is an error."""
    if value is None:
        return list(FORMATS)
    words = value.split(",") if isinstance(value, str) else list(value)
    wanted = {w.strip().lower().lstrip(".") for w in words if w and w.strip()}
    known = FORMATS + OPTIONAL_FORMATS
    unknown = wanted - set(known)
    if unknown or not wanted:
        raise RectifyError(
            f"未知的报告格式：{'、'.join(sorted(unknown)) or '（空）'}（可选：{','.join(known)}）"
        )
    return [f for f in known if f in wanted]


def report_paths(out_dir: Path, as_of: date, formats: list[str]) -> dict[str, Path]:
    return {
        fmt: out_dir
        / (
            f"{REGISTER_STEM}-{as_of.isoformat()}.xlsx"
            if fmt == "xlsx"
            else f"{REPORT_STEM}-{as_of.isoformat()}.{fmt}"
        )
        for fmt in formats
    }


@dataclass
class Produced:
    report: Report
    markdown: str
    paths: dict[str, Path]


def produce_report(
    session: Session,
    as_of: date,
    out_dir: Path,
    formats: list[str],
    settings: Settings,
    *,
    dated: date | None = None,
) -> Produced:
    """Compile as of the date and write every requested format: the whole job of `rectify
    report`, shared by the command's direct path and the flow's task (no Prefect here)."""
    from rectify.report.figures import compile_report
    from rectify.report.render import render_markdown
    from rectify.workdays import get_calendar

    report = compile_report(
        session,
        as_of,
        get_calendar(settings.calendar_override),
        settings.stalled_after_days,
        office=office_of(settings, dated),
    )
    markdown = render_markdown(report)
    paths = write_report(session, report, out_dir, formats, markdown=markdown)
    return Produced(report, markdown, paths)


def write_report(
    session: Session, report: Report, out_dir: Path, formats: list[str], *, markdown: str | None = None
) -> dict[str, Path]:
    """Write the requested formats into out_dir; returns {format: path}. The Excel file is the
    register (附件2) replayed to the report's date, and re-importable. A caller
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

            write_register_xlsx(session, path, as_of=report.as_of, office=report.office)
        elif fmt == "pdf":
            _write_pdf(report, path, paths.get("docx"))
    return paths


def _write_pdf(report: Report, path: Path, docx: Path | None) -> None:
    """From the .docx just written, or from a temporary one when Word was not asked for."""
    import tempfile

    from rectify.report.docx import write_docx
    from rectify.report.pdf import to_pdf

    if docx is not None:
        to_pdf(docx, path)
        return
    with tempfile.TemporaryDirectory(prefix="rectify-report-") as tmp:
        to_pdf(write_docx(report, Path(tmp) / path.with_suffix(".docx").name), path)
