"""`rectify`: the ledger's command line, the top layer (it may import flows/ and tasks/, lazily;
rectify's domain modules never import it).

The console script enters at `main()`: `rectify list` and `rectify show` are answered by
rectify.cli.lean without importing typer, SQLAlchemy or pydantic (issue #13: read commands
start in 0.3 s); every other command, and any read it does not take on, goes to the typer app
in rectify.cli.commands, whose sub-modules register their commands when it loads.
`from rectify.cli import app` still gives that app (tests, `python -c`), loaded on first use.
"""

from __future__ import annotations

import sys


def main() -> None:  # pragma: no cover - console entry point
    from rectify.cli.lean import answer

    if answer(sys.argv[1:]):
        return
    from rectify.cli.commands import app

    app()


def __getattr__(name: str):
    if name == "app":
        from rectify.cli.commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
