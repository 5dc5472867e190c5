"""What the read commands print, in plain Python: tables, JSON, `show`'s page, the log lines.

The one copy for both ways `list` and `show` run: the typer commands (rectify.cli.commands)
and the lean path the console script takes first (rectify.cli.lean), which must not load
typer, SQLAlchemy or pydantic; so nothing here imports them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import unicodedata
from bisect import bisect_right
from functools import lru_cache
from itertools import accumulate


def setup_logging() -> None:
    """Calendar fallbacks and delivery problems are told once, plainly, on stderr.

    Prefect's console output is switched off for the command (`remind`, `report` run flows in
    this process): its INFO lines and the engine's traceback of a failed run would bury the one
    line that says what went wrong. Its API handler is untouched, so the run's logs are still in
    the Prefect UI. Must happen before Prefect is imported (it reads this when it loads);
    an explicit PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL wins."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    # Without a server, `remind` and `report` start Prefect's ephemeral one; its 20 s start-up
    # limit fails `make demo` on a loaded machine. A ceiling, not an expectation.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("提示：%(message)s"))
    log = logging.getLogger("rectify")
    if not log.handlers:
        log.addHandler(handler)
        log.setLevel(logging.WARNING)
        log.propagate = False


_FLAT = json.JSONEncoder(ensure_ascii=False, separators=(",\n    ", ": "), default=str).encode


def json_text(data) -> str:
    """json.dumps(data, ensure_ascii=False, indent=2, default=str), to the byte. With an indent
    json uses its pure-Python encoder (0.2 s for `list --json` on 10,000 items); a list of flat
    dicts, what `list` prints, is encoded by the C encoder one row at a time and indented here."""
    if (
        isinstance(data, list)
        and data
        and all(
            type(r) is dict and r and not any(isinstance(v, (dict, list, tuple)) for v in r.values())
            for r in data
        )
    ):
        return "[\n  " + ",\n  ".join("{\n    " + _FLAT(r)[1:-1] + "\n  }" for r in data) + "\n]"
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


@lru_cache(maxsize=None)
def _char_width(ch: str) -> int:
    # Cached per character: a 10,000-row table has millions of characters but a few thousand
    # distinct ones, and the C-level cache lookup is far cheaper than east_asian_width().
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def width(text: str) -> int:
    return len(text) if text.isascii() else sum(map(_char_width, text))


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) * 2 <= limit or text.isascii() and len(text) <= limit:
        return text
    ends = list(accumulate(map(_char_width, text)))  # the width up to and including each character
    if ends[-1] <= limit:
        return text
    return text[: bisect_right(ends, limit - 1)] + "…"  # the first character that would not fit


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain aligned table (CJK characters count double); fast for 10,000 rows."""
    measure = lru_cache(maxsize=None)(width)  # a cell's text repeats: names, states, labels
    cell_widths = [[measure(c) for c in r] for r in [headers, *rows]]  # each cell measured once
    widths = [max(col) for col in zip(*cell_widths)]

    def line(cells, ws):
        return "  ".join(c + " " * (w - cw) for c, cw, w in zip(cells, ws, widths)).rstrip()

    return "\n".join(line(r, ws) for r, ws in zip([headers, *rows], cell_widths))


LIST_HEADERS = ["编号", "亮灯", "状态", "类别", "责任领导", "责任人", "整改时限", "问题描述"]


def list_cells(r: dict) -> list[str]:
    return [
        r["code"],
        r["light_label"],
        r["status_label"] + ("·逾期" if r["overdue"] else "") + ("·未按时报送" if r["unreported"] else ""),
        r["category"],
        r["leader"] or "-",
        r["owner"] or "-",
        r["deadline_label"],
        clip(r["description"], 40),
    ]


def list_summary(rows: list[dict]) -> str:
    overdue_n = sum(r["overdue"] for r in rows)
    unreported_n = sum(r["unreported"] for r in rows)
    return (
        f"共{len(rows)}项"
        + (f"，其中逾期{overdue_n}项" if overdue_n else "")
        + (f"，未按时报送{unreported_n}项" if unreported_n else "")
    )


def show_text(d: dict) -> str:
    """`rectify show`'s page for one item (item_detail's dict)."""
    lines = [
        f"{d['code']}  {d['status_label']}"
        + ("（逾期）" if d["overdue"] else "")
        + (f"  {d['light_label']}" if d["light"] else ""),
        f"问题来源：{d['source']}    问题类别：{d['category']}",
        f"问题描述：{d['description']}",
        f"责任领导：{d['leader'] or '-'}    责任部门：{d['department'] or '-'}    责任人：{d['owner'] or '-'}",
        f"整改时限：{d['deadline_label']}",
        *([f"定期报送：{d['report_due']} 前应报送的进展未按时报送"] if d["unreported"] else []),
        *([f"复核日期（回头看）：{d['recheck_on']}"] if d["recheck_on"] else []),
        "整改措施：",
        *[_measure_line(m) for m in d["measures"]],
    ]
    if d["extensions"]:
        lines.append("延期申请：")
        lines += [
            f"  第{e['measure']}条 {e['from']}→{e['to']} {e['requested_by']}（{e['requested_on']}）："
            f"{e['reason']}；{e['status_label']}"
            + (
                f"（{e['decided_by']}，{e['decided_on']}"
                + (f"：{e['comment']}" if e["comment"] else "")
                + "）"
                if e["decided_on"]
                else ""
            )
            for e in d["extensions"]
        ]
    if d["remark"]:
        lines.append(f"备注：{d['remark']}")
    if d["progress"]:
        lines.append("整改进展：")
        lines += [
            f"  {p['day']} {p['author'] or '台账'}：{p['note']}"
            + (f"（{p['percent']}%）" if p["percent"] is not None else "")
            for p in d["progress"]
        ]
    if d["evidence"]:
        lines.append("佐证材料：")
        lines += [f"  {e['day']} {e['ref']}" for e in d["evidence"]]
    lines.append("操作记录：")
    for a in d["audit"]:
        move = f" {_label(a['from'])}→{_label(a['to'])}" if a["to"] and a["from"] != a["to"] else ""
        comment = f"：{a['comment']}" if a["comment"] else ""
        proof = (
            f"（{a['proof']}" + (f" {a['os_account']}" if a["os_account"] else "") + "）"
            if a["proof"]
            else ""
        )
        lines.append(f"  {a['day']} {a['actor']}{proof} {a['action_label']}{move}{comment}")
    return "\n".join(lines)


def _measure_line(m: dict) -> str:
    from rectify.lights import LIGHT_LABELS

    when = m["deadline_text"] + (
        f"，{m['deadline']}" if m["deadline"] and m["deadline"] != m["deadline_text"] else ""
    )
    if m["original_deadline"]:
        when += f"，原定时限 {m['original_deadline']}"
    state = (
        f"已完成（{m['done_on']} {m['done_by'] or '台账'}：{m['done_note']}）" if m["done_on"] else "未完成"
    )
    light = f" {LIGHT_LABELS[m['light']]}" if m["light"] else ""
    return f"  {m['number']}. {m['text']}（{when}）{light} {state}"


def _label(status: str | None) -> str:
    from models.status import Status

    return Status(status).label if status else "-"
