"""The forms half of bench/bench_intake.py: with every item's run waiting, one 销号申请 at a time
(Resume with run_input, as the UI sends it) until its change is in the ledger, and a burst of
them at once, `in_flight` requests at a time, as many people pressing Resume.

The 验证码 each form needs is issued in the ledger as the email's transaction does (the bench
has no mailbox to read it from); the ledger is read with plain SQL (RECTIFY_DATABASE_URL).
"""

from __future__ import annotations

import asyncio
import os
import time

from bench_tools import wait_for


def ledger_rows(sql: str, **params) -> list[tuple]:
    from sqlalchemy import text

    from models.db import get_engine

    with get_engine(os.environ["RECTIFY_DATABASE_URL"]).connect() as conn:
        return list(conn.execute(text(sql), params))


# A 销号申请 applied: to the leader's sign-off when the item has a leader (the register's
# items do), else straight to the secretaries' review.
APPLIED = {"leader_review", "submitted"}


def issue_codes(rows) -> dict[str, str]:
    """The 验证码 each owner's 销号申请 email would carry (issued in the ledger as the email's
    transaction does; the bench has no mailbox to read it from)."""
    from sqlalchemy import select

    from models import Item, Person
    from rectify import codes
    from rectify.item_process import transaction
    from rectify.settings import get_settings

    issued = {}
    with transaction(get_settings().database_url) as session:
        for code, _, owner in rows:
            item = session.scalars(select(Item).where(Item.code == code)).one()
            person = session.scalars(select(Person).where(Person.name == owner)).one()
            issued[code] = codes.reveal_one(session, codes.issue(session, person, item, "submit"))
    return issued


def _form(owner: str, code: str) -> dict:
    return {
        "summary": "已按措施完成整改",
        "evidence": ["整改报告.pdf"],
        "completes": [1],
        "submitter": owner,
        "code": code,
    }


def _status(code: str) -> str:
    return ledger_rows("SELECT status FROM items WHERE code = :c", c=code)[0][0]


def submitted(codes: list[str]) -> int:
    rows = ledger_rows("SELECT code, status FROM items WHERE code LIKE 'BIG-%'")
    wanted = set(codes)
    return sum(1 for c, s in rows if c in wanted and s in APPLIED)


def one_form(code: str, run_id: str, owner: str, act_code: str) -> float:
    from uuid import UUID

    from prefect.flow_runs import resume_flow_run

    from tasks import prefect_api as api

    t0 = time.monotonic()
    with api.own_retries():
        api.call_sync(resume_flow_run, UUID(run_id), run_input=_form(owner, act_code))
    wait_for(lambda: _status(code) in APPLIED, 300, every=0.2)
    return time.monotonic() - t0


async def resume_all(rows, issued: dict[str, str], in_flight: int) -> dict[str, str]:
    """Every form at once, as many people pressing Resume (`in_flight` requests at a time).
    Returns the forms the server did not take within the retry budget: code -> the error."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    from tasks import prefect_api as api

    gate = asyncio.Semaphore(in_flight)
    refused: dict[str, str] = {}
    with api.own_retries():
        async with get_client() as client:

            async def one(code, run_id, owner):
                async with gate:
                    try:
                        await api.call(
                            client.resume_flow_run, UUID(run_id), run_input=_form(owner, issued[code])
                        )
                    except Exception as exc:  # given up after the patience: counted, not fatal
                        refused[code] = api.first_line(exc)[:80]

            await asyncio.gather(*(one(*r) for r in rows))
    return refused
