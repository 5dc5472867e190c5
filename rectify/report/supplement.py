"""Figures of the report that other features record: measure completion, extensions,
定期报送 and 回头看. Each stays None until its feature fills it in here; the report's text
(rectify/report/document.py) says nothing about a figure that is None."""

from __future__ import annotations

from dataclasses import dataclass
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


def supplementary_figures(session: Session, as_of: date, items: list) -> Supplement:
    """The place for measure completion, extensions, 定期报送 and 回头看 as of the date: each
    figure is filled in by the feature that records it; absent data stays None."""
    return Supplement()
