"""`rectify server` on SQLite: Prefect's bulk run creation and resume take the write lock first.

Why: Prefect 3.9's `POST /deployments/{id}/create_flow_run/bulk` and `POST
/flow_runs/{id}/resume` run in a DEFERRED transaction: they read (the deployment, variables, work
queues; the run, its form's schema, then validate the answer) and only then write. On SQLite
in WAL mode a transaction that has read cannot write once another connection has committed a
write since its first read: SQLite refuses at once ("database is locked", no busy wait), and
the whole batch of 100 comes back FAILED. The other writer is usually the server's own event
persister storing the state-change events of the previous batch, so in a 1,000-item intake 3 to 7
of the 10 batches were refused once and sent again (tasks/waiting_runs retries them), each
refusal costing the server's single core most of a second (docs/runs-at-scale.md). A resume
fails the same way whenever anything else commits while it validates the form: in a burst of
100 forms at once (20 in flight, runs executing) the server logged 599 such failures, answered
503, and 5 people's Resume got nothing but 503 for the two minutes of the client's patience.
Prefect's `set_state` avoids exactly this with `with_for_update=True`, which on SQLite begins
IMMEDIATE; these two routes do not.

How: the guard (flows/api_guard.py) runs those two routes with a context variable set, and
`AioSqliteConfiguration.begin_transaction` begins IMMEDIATE while it is set: the transaction
waits for the lock (Prefect's busy timeout) instead of failing. Nothing else changes; a route
holds the lock from its first write to its commit anyway, so only its first reads (milliseconds
to tens of milliseconds) now also hold it. PostgreSQL is untouched. tests/test_prefect_contract.py pins
the names this relies on.
"""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from contextvars import ContextVar

WRITE_FIRST_ROUTES = re.compile(
    r"/deployments/[^/]+/create_flow_run/bulk$|/flow_runs/[^/]+/resume$", re.IGNORECASE
)
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
