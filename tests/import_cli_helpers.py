"""`rectify import` as a subprocess and its one-line refusal, for the import-safety and
import-bomb tests.
"""

from __future__ import annotations


from typer.testing import CliRunner


def _cli(args, **env):
    from rectify.cli import app

    return CliRunner().invoke(app, args, env=env, catch_exceptions=False)


def _one_error_line(result) -> str:
    assert result.exit_code != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = [x for x in result.stderr.splitlines() if x.strip() and not x.startswith("提示：")]
    assert len(lines) == 1 and lines[0].startswith("错误："), result.stderr
    return lines[0]
