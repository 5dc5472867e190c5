"""Every call the project makes to Prefect's API goes through `call` / `call_sync`.

A Prefect server on a busy machine answers `503 Service Unavailable` (its database pool is
full), `429` (rate limit), times out, or is briefly not listening while it restarts. None of
that is a reason to fail an intake or to tell the secretary that a form went nowhere: the call
is repeated with jittered exponential backoff until it succeeds or a bounded total time (the
patience, `RECTIFY_API_PATIENCE_SECONDS`, default 120 s) has passed. Only then does the error
reach the caller. Errors that retrying cannot fix (404, 409, 422 …) are raised at once.

Prefect's own client also retries 429/502/503, up to 5 times 2, 4 … 32 s apart, per request.
Inside `own_retries()` that is switched off so that this layer alone decides: shorter jittered
pauses, one bound on the total time, and refused connections and timeouts included.

New runs' calls of their own (a run left RUNNING by an older intake suspended; forms saved one
input at a time on a server without the guarded route, tasks/run_forms) are bounded by a
semaphore (`RECTIFY_RUN_CREATE_CONCURRENCY`, default 8 runs; measured in docs/runs-at-scale.md):
the SQLite server serialises writes, and more calls in flight only turn into 503s.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import httpx

T = TypeVar("T")
log = logging.getLogger("rectify.prefect_api")
RETRY_STATUS = {408, 429, 500, 502, 503, 504}
FIRST_DELAY = 0.2  # seconds; doubles each attempt, up to MAX_DELAY, full jitter
MAX_DELAY = 5.0


@contextmanager
def own_retries() -> Iterator[None]:
    """Calls made inside retry here only, not also in Prefect's client (see the docstring)."""
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}):
        yield


def patience() -> float:
    from rectify.settings import get_settings

    return get_settings().api_patience_seconds


def create_concurrency() -> int:
    from rectify.settings import get_settings

    return max(1, get_settings().run_create_concurrency)


def is_transient(exc: BaseException) -> bool:
    """An error that waiting may cure: overload, rate limit, timeout, server not listening."""
    if isinstance(
        exc,
        (
            httpx.TimeoutException,
            httpx.ConnectError,
            httpx.RemoteProtocolError,
            httpx.ReadError,
            httpx.WriteError,
            ConnectionError,
        ),
    ):
        return True
    return status_of(exc) in RETRY_STATUS


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an error carries (Prefect's and httpx's status errors), else None."""
    response = getattr(exc, "response", None)
    return response.status_code if isinstance(response, httpx.Response) else None


def _delay(attempt: int) -> float:
    return random.uniform(0, min(MAX_DELAY, FIRST_DELAY * 2**attempt))


def backoff(attempt: int) -> float:
    """The pause before the attempt+1-th retry of something a caller retries itself (e.g. the
    runs a bulk creation reported as not created)."""
    return _delay(attempt)


class _Retry:
    """The pauses of one call: jittered, growing, and never past the call's total budget."""

    def __init__(self, budget: float | None, what: str):
        self.deadline = time.monotonic() + (patience() if budget is None else budget)
        self.attempt, self.what = 0, what

    def pause_after(self, exc: Exception) -> float:
        """How long to wait before trying again; re-raises what waiting cannot cure."""
        if not is_transient(exc) or time.monotonic() >= self.deadline:
            raise exc
        pause = min(_delay(self.attempt), max(0.0, self.deadline - time.monotonic()))
        log.info("Prefect API %s: %s; retrying in %.1f s", self.what, type(exc).__name__, pause)
        self.attempt += 1
        return pause


async def call(
    fn: Callable[..., Awaitable[T]], *args, what: str = "", budget: float | None = None, **kwargs
) -> T:
    """`await fn(*args, **kwargs)`, retried on transient errors within `budget` seconds."""
    retry = _Retry(budget, what or fn.__name__)
    while True:
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            await asyncio.sleep(retry.pause_after(exc))


def call_sync(fn: Callable[..., T], *args, what: str = "", budget: float | None = None, **kwargs) -> T:
    """The same for the synchronous client (the command line)."""
    retry = _Retry(budget, what or fn.__name__)
    while True:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            time.sleep(retry.pause_after(exc))


def first_line(exc: BaseException) -> str:
    """One line for a person: the first line of the error, never a traceback."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]
