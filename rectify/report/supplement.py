"""Figures of the report that other features record: measure completion, extensions,
定期报送 and 回头看. Each stays None until its feature fills it in here; the report's text
(rectify/report/document.py) says nothing about a figure that is None."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session


@dataclass
class Supplement:
    """Figures that other parts of the ledger add to the report; None = not tracked in this
    ledger, and then the text says nothing about it (see rectify/report/document.py)."""

    measures_done: int | None = None  # 提出整改措施N条，已完成M条
    extended: int | None = None  # 经批准延期x项
    reports_missed: int | None = None  # 未按时报送整改进展的问题
    rechecked: int | None = None  # 回头看
    consolidated: int | None = None  # 巩固
    rebounded: int | None = None  # 反弹
    extensions: list[dict] = field(default_factory=list)  # the approved ones, oldest decision first
    unreported: list[str] = field(default_factory=list)  # codes 未按时报送


def supplementary_figures(session: Session, as_of: date, items: list) -> Supplement:
    """Measure completion (rectify.measures), approved extensions (rectify.extensions),
    定期报送 (rectify.reporting) and 回头看 (rectify.recheck), all as of the date."""
    from rectify.extensions import approved_extensions
    from rectify.measures import measure_counts
    from rectify.recheck import recheck_counts
    from rectify.reporting import unreported

    _, done = measure_counts(session, as_of)
    extensions = approved_extensions(session, as_of)
    missed = sorted(o.code for o in unreported(session, as_of))
    recheck = recheck_counts(session, as_of)
    return Supplement(
        measures_done=done,
        extended=len(extensions),
        reports_missed=len(missed),
        rechecked=recheck["done"],
        consolidated=recheck["confirmed"],
        rebounded=recheck["reopened"],
        extensions=extensions,
        unreported=missed,
    )
