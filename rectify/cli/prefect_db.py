"""`rectify prefect-db`: Prefect's own database on PostgreSQL, set for the queries its UI makes.

Why: the item run's page and its Resume form ask `GET /api/flow_runs/{id}/graph-v2`. Prefect
3.9's PostgreSQL query for it (prefect/server/database/query_components.py, flow_run_graph_v2)
unnests every task run's inputs with `jsonb_each`/`jsonb_array_elements` and joins the result to
itself three times; the planner guesses 100 rows per function call and multiplies, so it costs
the query in the millions whatever the data (EXPLAIN: about 4,000,000 for a run with no task run).
Above `jit_above_cost` (100,000) and the inlining and optimisation thresholds (500,000),
PostgreSQL's default `jit = on` compiles the query with LLVM first: EXPLAIN ANALYZE on an idle
machine, 1,000 runs waiting, showed 824 ms of 848 ms in JIT (97 functions) and 0.5 ms of real
work once JIT was off; under load the page waited about 3 s. SQLite has no JIT (0.016 s).
Prefect's queries are short lookups that JIT never pays back.

So this sets `jit = off` for the role Prefect connects as, in Prefect's database only
(`ALTER ROLE CURRENT_USER IN DATABASE … SET jit = off`: any role may set its own defaults, no
superuser or ownership needed; the ledger and other databases are untouched). It applies to new
connections: run it before `prefect server start` (`rectify up` does it itself when Prefect's
database is PostgreSQL). Running it again changes nothing.
"""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from rectify.cli.commands import app
from rectify.cli.common import fail

# Prefect 3 reads either name (the second is the older alias, the one docs/operations.md uses).
URL_VARIABLES = ("PREFECT_SERVER_DATABASE_CONNECTION_URL", "PREFECT_API_DATABASE_CONNECTION_URL")
SETTINGS = {"jit": "off"}


def prefect_database_url() -> str | None:
    return next((os.environ[v] for v in URL_VARIABLES if os.environ.get(v)), None)


def is_postgres(url: str) -> bool:
    return url.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


def tune(url: str) -> str:
    """Set SETTINGS for the URL's role in the URL's database; returns that database's name.

    Raises psycopg's errors (the caller says them in one line)."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    dsn = parsed.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        database = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        for name, value in SETTINGS.items():
            conn.execute(
                sql.SQL("ALTER ROLE CURRENT_USER IN DATABASE {} SET {} = {}").format(
                    sql.Identifier(database), sql.Identifier(name), sql.Literal(value)
                )
            )
    return database


def tune_line(url: str) -> str:
    """`tune`, said in one Chinese line; a failure is a `fail` (one line, non-zero exit)."""
    import psycopg
    from sqlalchemy.exc import ArgumentError

    try:
        database = tune(url)
    except (psycopg.Error, ArgumentError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise fail(f"未能设置 Prefect 数据库：{first}") from None
    settings = "，".join(f"{k} = {v}" for k, v in SETTINGS.items())
    return f"Prefect 数据库 {database} 已设置（{settings}，对新连接生效）"


@app.command("prefect-db")
def prefect_db(
    url: Annotated[
        Optional[str],
        typer.Option(help="Prefect 服务器的数据库地址（默认取 PREFECT_API_DATABASE_CONNECTION_URL）"),
    ] = None,
) -> None:
    """为 PostgreSQL 上的 Prefect 数据库关闭 JIT（运行页面的任务图查询因 JIT 编译要等数秒）；在启动 Prefect 服务器前运行一次。"""
    url = url or prefect_database_url()
    if not url:
        raise fail("未给出 Prefect 数据库地址：请设置 PREFECT_API_DATABASE_CONNECTION_URL 或使用 --url")
    if not is_postgres(url):
        typer.echo("Prefect 数据库不是 PostgreSQL，无需设置")
        return
    typer.echo(tune_line(url))
