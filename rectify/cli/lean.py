"""`rectify list` and `rectify show` without typer, SQLAlchemy or pydantic (issue #13).

Those three cost about 0.65 s of imports before a read command can print a line; the budget
for the whole process on a 10,000-item ledger is 0.3 s. So the console script (rectify.cli.main)
first offers its arguments here. This path answers the common case: a SQLite ledger, the
options `list` and `show` document, RECTIFY_* settings given as plain values. Everything else
goes to the typer app, which answers it the usual way, before a byte is printed here: any other
command, --help, --as-of, PostgreSQL (psycopg alone costs 0.2 s; the typer path is the one
copy of those queries), a `.env` file (python-dotenv's syntax), a value pydantic might judge
differently, a missing ledger or item (the typer path says so in its own words), any error.

What it reuses rather than repeats: the settings' names and defaults (rectify.settings.
SettingFields) and the data-folder rule, the overdue and light rules and the `--json` rows
(rectify.lights), the reporting periods (rectify.periods), the calendar (rectify.workdays), the
labels (models.status), the printing (rectify.cli.text). What it writes itself are the SELECTs
in SQL; tests/test_cli_lean.py compares its output with the typer path's on seeded ledgers.
The arguments and settings it accepts, and what it declines, are rectify.cli.lean_args'.

models.status is loaded from its file: importing it the usual way runs models/__init__, which
loads SQLAlchemy for the table classes.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from rectify.cli.lean_args import LIST_OPTIONS, SHOW_OPTIONS, Declined, parse, parse_day, read_settings


def answer(argv: list[str]) -> bool:
    """True when `argv` was answered (printed) here; False: nothing was printed, run the app."""
    if not argv or argv[0] not in ("list", "show"):
        return False
    try:
        text = _answer(argv[0], argv[1:])
    except Exception:  # noqa: BLE001 - whatever it is, the typer path answers it properly
        _join_models_package()
        return False
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return True


def _answer(command: str, args: list[str]) -> str:
    options, positional = parse(args, LIST_OPTIONS if command == "list" else SHOW_OPTIONS)
    if (command == "list") == bool(positional) or len(positional) > 1:
        raise Declined("arguments")
    settings = read_settings()
    _load_models_status()
    from rectify.cli.text import setup_logging
    from rectify.settings import office_today

    today = parse_day(options["--today"]) if options.get("--today") else office_today(settings)
    conn = _connect(settings.database_url)
    setup_logging()
    try:
        if command == "list":
            return _list(conn, settings, today, options)
        return _show(conn, settings, today, positional[0], bool(options.get("--json")))
    finally:
        conn.close()


# --- the ledger ---------------------------------------------------------------------------------


def _connect(url: str):
    import sqlite3

    path = url.removeprefix("sqlite:///")
    if path == url or not path or "?" in path or "%" in path or not os.path.isfile(path):
        raise Declined("not a SQLite file")
    return sqlite3.connect(path, timeout=30)


def _load_models_status() -> None:
    if "models.status" in sys.modules:
        return
    import importlib.util

    package = importlib.util.find_spec("models")
    if package is None or not package.submodule_search_locations:
        raise Declined("models")
    path = Path(list(package.submodule_search_locations)[0]) / "status.py"
    spec = importlib.util.spec_from_file_location("models.status", path)
    if spec is None or spec.loader is None:
        raise Declined("models.status")
    module = importlib.util.module_from_spec(spec)
    sys.modules["models.status"] = module
    spec.loader.exec_module(module)


def _join_models_package() -> None:
    """Before the typer path runs: the models.status loaded here becomes the package's."""
    status = sys.modules.get("models.status")
    if status is not None and "models" not in sys.modules:
        import models

        models.status = status


_day_of = lru_cache(maxsize=None)(date.fromisoformat)  # a ledger has few distinct deadlines


def _d(value: str | None) -> date | None:
    return _day_of(value) if value else None


def _lights(settings, today: date):
    from rectify.lights import Lights
    from rectify.workdays import get_calendar

    return Lights(today, get_calendar(settings.calendar_override), settings)


def _owing(conn, settings, today: date, code: str | None = None) -> dict[str, tuple[int, date]]:
    """{code: (item id, missed due day)}: rectify.reporting.unreported's question, with the same
    condition (rectify.owing_rule) run on sqlite3."""
    from rectify.owing_rule import owing_condition
    from rectify.periods import KINDS, cadence_for, last_closed_period, parse_setting
    from rectify.workdays import get_calendar

    calendar = get_calendar(settings.calendar_override)
    default = parse_setting(settings.reporting)
    used = {
        r
        for (r,) in conn.execute(
            f"SELECT DISTINCT reporting FROM items WHERE reporting IN ({','.join('?' * len(KINDS))})", KINDS
        )
    }
    found: dict[str, tuple[int, date]] = {}
    for kind in (k for k in KINDS if k in used or (default is not None and default.kind == k)):
        cadence = cadence_for(kind, default)
        period = last_closed_period(cadence, today, calendar) if cadence else None
        if period is None:
            continue
        condition = owing_condition(default is not None and default.kind == kind)
        sql = f"SELECT items.id, items.code FROM items WHERE {condition}"
        params = {"kind": kind, "start": period.start.isoformat(), "until": period.due.isoformat()}
        if code is not None:
            sql += " AND items.code = :code"
            params["code"] = code
        for item_id, item_code in conn.execute(sql, params):
            found[item_code] = (item_id, period.due)
    return found


def _open_deadlines(conn, item_id: int | None = None) -> dict[int, date]:
    sql = (
        "SELECT item_id, MIN(deadline) FROM measures WHERE deadline IS NOT NULL AND done_on IS NULL"
        + (" AND item_id = ?" if item_id is not None else "")
        + " GROUP BY item_id"
    )
    return {i: _day_of(d) for i, d in conn.execute(sql, () if item_id is None else (item_id,))}


# --- the two commands ---------------------------------------------------------------------------


def _list(conn, settings, today: date, options: dict) -> str:
    from models.status import Status, parse_status
    from rectify.cli.text import LIST_HEADERS, json_text, list_cells, list_summary, table
    from rectify.lights import list_row

    wanted = parse_status(str(options["--status"])) if options.get("--status") else None
    owner, leader = options.get("--owner"), options.get("--leader")
    owing = _owing(conn, settings, today)
    ongoing = {item_id: "red" for item_id, _due in owing.values()}
    due = _open_deadlines(conn)
    lights = _lights(settings, today)
    statuses = {s.value: s for s in Status}
    rows = []
    for (
        id_,
        code,
        status,
        category,
        source,
        department,
        description,
        deadline,
        owner_name,
        leader_name,
    ) in conn.execute(
        "SELECT items.id, items.code, items.status, items.category, items.source, items.department,"
        " items.description, items.deadline, o.name, l.name FROM items"
        " LEFT OUTER JOIN people AS o ON items.owner_id = o.id"
        " LEFT OUTER JOIN people AS l ON items.leader_id = l.id ORDER BY items.id"
    ):
        st = statuses[status]
        if (
            (wanted is not None and st is not wanted)
            or (owner and owner_name != owner)
            or (leader and leader_name != leader)
        ):
            continue
        missed = owing.get(code)
        row = list_row(
            code,
            st,
            category,
            source,
            department,
            description,
            owner_name,
            leader_name,
            _d(deadline),
            due.get(id_),
            lights,
            ongoing.get(id_) if st is Status.ongoing else None,
            missed and missed[1],
        )
        if (options.get("--overdue") and not row["overdue"]) or (
            options.get("--unreported") and not row["unreported"]
        ):
            continue
        rows.append(row)
    if options.get("--json"):
        return json_text(rows)
    if not rows:
        return "没有符合条件的整改事项"
    return table(LIST_HEADERS, [list_cells(r) for r in rows]) + "\n" + list_summary(rows)


def _show(conn, settings, today: date, code: str, as_json: bool) -> str:
    from models.status import ACTION_LABELS, EXTENSION_STATUS_LABELS, Status
    from rectify.cli.text import json_text, show_text
    from rectify.lights import deadline_fields, report_fields

    item = conn.execute(
        "SELECT id, code, status, source, category, description, department, remark, owner_id,"
        " leader_id, deadline, reporting, recheck_on, register_date, closed_on, flow_run_id"
        " FROM items WHERE code = ?",
        (code,),
    ).fetchone()
    if item is None:
        raise Declined("no such item")  # the typer path says so
    (
        id_,
        code,
        status,
        source,
        category,
        description,
        department,
        remark,
        owner_id,
        leader_id,
        deadline,
        reporting,
        recheck_on,
        register_date,
        closed_on,
        flow_run_id,
    ) = item
    st = Status(status)
    names = dict(conn.execute("SELECT id, name FROM people"))
    missed = _owing(conn, settings, today, code).get(code)
    ongoing = "red" if missed and st is Status.ongoing else None
    lights = _lights(settings, today)

    def rows(sql: str, order: str = "id") -> list:  # the item's rows in the ORM's order
        return conn.execute(f"{sql} WHERE item_id = ? ORDER BY {order}", (id_,)).fetchall()

    measures = rows(
        "SELECT text, deadline, deadline_text, original_deadline, done_on, done_by_id,"
        " done_note FROM measures",
        "position",
    )
    d = {
        "code": code,
        "status": st.value,
        "status_label": st.label,
        "source": source,
        "category": category,
        "description": description,
        "department": department,
        "remark": remark,
        "owner": names.get(owner_id) if owner_id is not None else None,
        "leader": names.get(leader_id) if leader_id is not None else None,
        **deadline_fields(_d(deadline), st, _open_deadlines(conn, id_).get(id_), lights, ongoing),
        **report_fields(missed and missed[1]),
        "reporting": reporting,
        "recheck_on": recheck_on,
        "register_date": register_date,
        "closed_on": closed_on,
        "flow_run_id": flow_run_id,
        "measures": [
            {
                "number": n,
                "text": text,
                "deadline": m_deadline,
                "deadline_text": deadline_text,
                "original_deadline": original,
                "done_on": done_on,
                "done_by": names.get(done_by) if done_on else None,
                "done_note": done_note if done_on else None,
                "light": lights.of(st, None if done_on else _d(m_deadline), ongoing),
            }
            for n, (text, m_deadline, deadline_text, original, done_on, done_by, done_note) in enumerate(
                measures, 1
            )
        ],
        "extensions": [
            {
                "measure": position + 1,
                "from": old,
                "to": new,
                "reason": reason,
                "requested_by": names.get(by),
                "requested_on": on,
                "status": e_status,
                "status_label": EXTENSION_STATUS_LABELS[e_status],
                "decided_by": names.get(decided_by),
                "decided_on": decided_on,
                "comment": comment,
            }
            for position, old, new, reason, by, on, e_status, decided_by, decided_on, comment in rows(
                "SELECT position, old_deadline, new_deadline, reason, requested_by_id, requested_on,"
                " status, decided_by_id, decided_on, comment FROM extensions"
            )
        ],
        "progress": [
            {"day": day, "author": names.get(author), "note": note, "percent": percent}
            for day, author, note, percent in rows("SELECT day, author_id, note, percent FROM progress_notes")
        ],
        "evidence": [{"day": day, "ref": ref} for day, ref in rows("SELECT day, ref FROM evidence")],
        "audit": [
            {
                "day": day,
                "at": datetime.fromisoformat(at).isoformat(),
                "actor": actor,
                "action": action,
                "action_label": ACTION_LABELS.get(action, action),
                "from": from_status,
                "to": to_status,
                "comment": comment,
                "details": None if details is None else json.loads(details),
                "proof": proof,
                "os_account": os_account,
            }
            for day, at, actor, action, from_status, to_status, comment, details, proof, os_account in rows(
                "SELECT day, at, actor, action, from_status, to_status, comment, details, proof,"
                " os_account FROM audit_records"
            )
        ],
    }
    return json_text(d) if as_json else show_text(d)
