"""What the lean read path (rectify.cli.lean) accepts: the arguments of `list` and `show` and
the RECTIFY_* settings given as plain values, read without typer or pydantic.

Anything it is not sure to read exactly as the typer app would (an unknown option, a `.env`
file, a value pydantic might judge differently, a day outside the calendar) raises Declined,
and the typer app answers instead, before a byte is printed.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any


LIST_OPTIONS = {
    "--status": True,
    "--overdue": False,
    "--owner": True,
    "--leader": True,
    "--unreported": False,
    "--today": True,
    "--json": False,
}


SHOW_OPTIONS = {"--today": True, "--json": False}


class Declined(Exception):
    """This path does not answer; the typer app will."""


def parse(args: list[str], known: dict[str, bool]) -> tuple[dict, list[str]]:
    options: dict[str, str | bool] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if arg.startswith("-"):
            if name not in known:
                raise Declined(arg)
            if known[name]:
                if not eq:
                    if i + 1 >= len(args):
                        raise Declined(arg)
                    i += 1
                    value = args[i]
                options[name] = value
            elif eq:
                raise Declined(arg)
            else:
                options[name] = True
        else:
            positional.append(arg)
        i += 1
    return options, positional


_INT = re.compile(r"-?[0-9]+")


_FLOAT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


_BOOLS = {"true": True, "1": True, "false": False, "0": False}


def read_settings() -> Any:
    """The settings as rectify.settings_model.Settings would read them, for plain values only."""
    from rectify.settings import SettingFields, home_paths

    if Path(".env").exists():
        raise Declined(".env")
    env = {k.lower(): v for k, v in os.environ.items() if k[:8].lower() == "rectify_"}
    hints: dict[str, str] = SettingFields.__annotations__
    given = {name: _value(hints[name], env[f"rectify_{name}"]) for name in hints if f"rectify_{name}" in env}
    values = {name: getattr(SettingFields, name) for name in hints} | given
    values |= home_paths(values["home"], given)
    return SimpleNamespace(**values)


def _value(hint: str, raw: str):
    kind = hint.removesuffix(" | None")
    if kind == "str":
        return raw
    if kind == "int" and _INT.fullmatch(raw):
        return int(raw)
    if kind == "float" and _FLOAT.fullmatch(raw):
        return float(raw)
    if kind == "bool" and raw.lower() in _BOOLS:
        return _BOOLS[raw.lower()]
    if kind == "date" and _DAY.fullmatch(raw):
        return date.fromisoformat(raw)
    if kind == "Path" and raw.strip():
        return Path(raw)
    if kind == "tuple[int, ...]":
        parsed = json.loads(raw)
        if isinstance(parsed, list) and all(type(n) is int for n in parsed):
            return tuple(parsed)
    raise Declined(f"setting {hint} {raw!r}")


def parse_day(value: str) -> date:
    from rectify.workdays import FIRST_DAY, LAST_DAY

    if not _DAY.fullmatch(value):
        raise Declined(value)
    day = date.fromisoformat(value)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise Declined(value)
    return day
