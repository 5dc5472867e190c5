"""`rectify server` on SQLite: Prefect's bulk run creation takes the write lock first.

Why: Prefect 3.9's `POST /deployments/{id}/create_flow_run/bulk` runs in a DEFERRED
transaction: it reads (the deployment, variables, work queues) and only then writes. On SQLite
in WAL mode a transaction that has read cannot write once another connection has committed a
write since its first read: SQLite refuses at once ("database is locked", no busy wait), and
the whole batch of 100 comes back FAILED. The other writer is usually the server's own event
persister storing the state-change events of the previous batch, so in a 1,000-item intake 3 to 7
of the 10 batches were refused once and sent again (tasks/waiting_runs retries them), each
refusal costing the server's single core most of a second (docs/runs-at-scale.md). Prefect's
own state changes (`set_state`, resume) avoid exactly this with `with_for_update=True`, which
on SQLite begins IMMEDIATE; the bulk route does not.

How: the guard (flows/api_guard.py) runs that one route with a context variable set, and
`AioSqliteConfiguration.begin_transaction` begins IMMEDIATE while it is set: the transaction
waits for the lock (Prefect's busy timeout) instead of failing. Nothing else changes; the
route holds the lock from its first write to its commit anyway, so only its first reads (tens of
milliseconds) now also hold it. PostgreSQL is untouched. tests/test_prefect_contract.py pins
the names this relies on.
"""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from contextvars import ContextVar

BULK_CREATE = re.compile(r"/deployments/[^/]+/create_flow_run/bulk$", re.IGNORECASE)
WRITE_FIRST: ContextVar[bool] = ContextVar("rectify_sqlite_write_first", default=False)


def install() -> None:
    """Wrap Prefect's SQLite transactions once (in the server's process only)."""
    from prefect.server.database.configurations import AioSqliteConfiguration

    original = AioSqliteConfiguration.begin_transaction
    if getattr(original, "rectify_write_first", False):
        return

    @asynccontextmanager
    async def begin_transaction(self, session, with_for_update: bool = False):
        async with original(self, session, with_for_update=with_for_update or WRITE_FIRST.get()) as tx:
            yield tx

    begin_transaction.rectify_write_first = True  # type: ignore[attr-defined]
    AioSqliteConfiguration.begin_transaction = begin_transaction  # type: ignore[method-assign]
