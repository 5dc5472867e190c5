"""Each test session's own PostgreSQL databases, so that two `make test` at once on one server
never share one (issue #13, "green on a busy machine").

Before, every xdist worker used `<database>_gw0`, `_gw1`…: a second session beside the first
truncated the same ledgers, and the several-machines test dropped the schema of the one Prefect
database under the other's server. Now the process pytest was started as makes a token, `<time
in hex><host tag>p<pid>`, which its xdist workers inherit (RECTIFY_TEST_SESSION), and every
database a test needs is `<configured database>_<token>_<what>` (what: the worker, `jit`,
`machines`…), created from the configured URL on first use (the test role has CREATEDB). The
configured databases themselves are only where CREATE DATABASE connects.

At the end the session drops its own databases. One that a killed session left behind is dropped
by the next session that starts: when its token is older than a day, or when it was made on this
host and its pid is gone. A live session on this host (its pid still running) is never touched,
nor a recent one from another host sharing the server.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time

from sqlalchemy import create_engine, make_url, text

ENV = "RECTIFY_TEST_SESSION"
STALE_AFTER = 24 * 3600  # seconds: a session's databases older than this are left-overs
HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:4]
TOKEN_RE = re.compile(r"(?P<time>[0-9a-f]{8})(?P<host>[0-9a-f]{4})p(?P<pid>\d+)")
MAX_NAME = 63  # PostgreSQL truncates longer identifiers


def new_token(now: float | None = None, pid: int | None = None) -> str:
    stamp = int(time.time() if now is None else now)
    return f"{stamp:08x}{HOST}p{os.getpid() if pid is None else pid}"


def session_token(worker: str | None) -> str:
    """This session's token: made (and exported for the xdist workers and every child process)
    by the process pytest was started as; read from the environment by a worker."""
    if worker:
        token = os.environ.get(ENV)
        if not token or not TOKEN_RE.fullmatch(token):
            raise RuntimeError(f"xdist worker {worker} without {ENV} from its controller")
        return token
    token = os.environ.get(ENV, "")
    found = TOKEN_RE.fullmatch(token)
    if found and int(found["pid"]) == os.getpid() and found["host"] == HOST:
        return token  # conftest imported a second time in the same process
    os.environ[ENV] = token = new_token()  # never one inherited from an outer session
    return token


def database_name(url: str, token: str, what: str) -> str:
    name = f"{make_url(url).database}_{token}_{what}"
    if len(name) > MAX_NAME or not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ValueError(f"test database name {name!r}: letters, digits, _ and at most {MAX_NAME}")
    return name


def session_database(url: str, token: str, what: str) -> str:
    """The URL of this session's database `what` beside the one `url` names (created if missing)."""
    base = make_url(url)
    name = database_name(url, token, what)
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}) is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def is_stale(token: str, now: float) -> bool:
    found = TOKEN_RE.fullmatch(token)
    if found is None:
        return False
    if now - int(found["time"], 16) > STALE_AFTER:
        return True
    return found["host"] == HOST and not _pid_alive(int(found["pid"]))


def _drop(url: str, keep) -> list[str]:
    """Drop the databases beside `url` named `<its database>_<token>_<what>` whose token `keep`
    refuses; WITH (FORCE): a killed session's servers may still hold connections."""
    base = make_url(_sync(url))
    pattern = re.compile(re.escape(base.database) + r"_(?P<token>[0-9a-f]{12}p\d+)_[A-Za-z0-9_]+")
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    dropped = []
    try:
        with engine.connect() as conn:
            for (name,) in conn.execute(text("SELECT datname FROM pg_database")):
                found = pattern.fullmatch(name)
                if found and not keep(found["token"]):
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    dropped.append(name)
    finally:
        engine.dispose()
    return dropped


def _sync(url: str) -> str:
    return url.replace("+asyncpg", "+psycopg")


def drop_session(urls: list[str], token: str) -> list[str]:
    """At the end of a session: its own databases, beside each configured URL."""
    return [n for url in urls for n in _drop(url, keep=lambda t: t != token)]


def drop_stale(urls: list[str], token: str, now: float | None = None) -> list[str]:
    """At the start of a session: what killed sessions left (see the module docstring)."""
    now = time.time() if now is None else now
    return [n for url in urls for n in _drop(url, keep=lambda t: t == token or not is_stale(t, now))]
