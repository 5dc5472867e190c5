"""The demo ledger at a fixed date and the report computed from it, shared by the report,
report-document and register-export tests.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path


from demo.register import ITEMS, build
from models import Status
from models.db import session_factory
from rectify import workflow
from rectify.importer import import_register
from rectify.report import compile_report
from rectify.workdays import get_calendar


REGISTER_DAY = date(2026, 11, 2)


AS_OF = date(2026, 11, 30)


CAL = get_calendar()


def demo_ledger(url: str, tmp_path: Path) -> None:
    """The `make demo` story: import on 11-02, assign everything, one progress note, one
    closure submitted on 11-24, signed off by its leader the same day and approved on 11-25."""
    with session_factory(url)() as s, s.begin():
        import_register(s, [build(tmp_path / "register.xlsx")], day=REGISTER_DAY, calendar=CAL)
        sec = workflow.get_person(s, "陈静")
        for code, *_rest in ITEMS:
            if workflow.get_item(s, code).status is Status.new:
                owner = next(i[7] for i in ITEMS if i[0] == code)
                workflow.assign(s, code, sec, REGISTER_DAY, owner=workflow.get_person(s, owner))
        workflow.add_progress(
            s, "ZG-2026-001", workflow.get_person(s, "赵磊"), date(2026, 11, 20), note="学习方案已审议"
        )
        workflow.submit(
            s,
            "ZG-2026-012",
            workflow.get_person(s, "钱敏"),
            date(2026, 11, 24),
            summary="已修订",
            completes=[1, 2],
        )
        workflow.signoff(s, "ZG-2026-012", workflow.get_person(s, "吴海燕"), date(2026, 11, 24))
        workflow.approve(s, "ZG-2026-012", sec, date(2026, 11, 25))


def report_as_of(url: str, day: date, stalled: int = 30):
    with session_factory(url)() as s:
        return compile_report(s, day, CAL, stalled)
