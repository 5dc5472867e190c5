"""Layers point one way: the command line and flows → tasks → the domain (rectify/) → models/
and notifications/. The domain and the layers below it never import Prefect, flows/ or tasks/,
so they run, and are tested, without an orchestrator; read commands start without Prefect.

Two checks: every import statement (module level or inside a function) of every domain
module, read from its syntax tree; and what importing them all actually loads, in a fresh
interpreter (catches a Prefect import that arrives through a third-party package).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"prefect", "prefect_email", "flows", "tasks"}
# The command line is the top layer: the package rectify/cli/ (with flow_sync, which keeps the
# ledger and a waiting flow run in step and imports Prefect on purpose, lazily).
CLI = ROOT / "rectify" / "cli"
# Deliberate, lazy exceptions: what they load and why.
ALLOWED = {
    # RECTIFY_EMAIL_BLOCK: the SMTP settings from a prefect-email block edited in the Prefect UI;
    # imported only when that setting is used.
    ("notifications/mail_config.py", "prefect_email"),
}


def domain_files() -> list[Path]:
    files = [p for p in (ROOT / "rectify").rglob("*.py") if not p.is_relative_to(CLI)]
    files += [*(ROOT / "models").rglob("*.py"), *(ROOT / "notifications").rglob("*.py")]
    return sorted(files)


def imported_tops(path: Path) -> set[str]:
    tops = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            tops |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops.add(node.module.split(".")[0])
    return tops


def test_domain_modules_never_import_prefect_flows_or_tasks():
    files = domain_files()
    assert len(files) > 20 and any(p.name == "workflow.py" for p in files)  # the walk found the domain
    assert not any(p.is_relative_to(CLI) for p in files)
    found = sorted(
        (str(p.relative_to(ROOT)), top)
        for p in files
        for top in imported_tops(p) & FORBIDDEN
        if (str(p.relative_to(ROOT)), top) not in ALLOWED
    )
    assert found == [], f"domain modules importing an upper layer: {found}"


def test_the_walk_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def later():\n    from prefect.flows import flow\n    import tasks.report\n")
    assert imported_tops(sample) & FORBIDDEN == {"prefect", "tasks"}


def test_importing_the_domain_and_the_command_line_loads_no_prefect():
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for p in domain_files()
    ]
    code = (
        "import sys\n" + "".join(f"import {m}\n" for m in modules) + "import rectify.cli.commands\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{sorted(FORBIDDEN)!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_no_domain_module_imports_the_command_line():
    found = sorted(
        str(p.relative_to(ROOT))
        for p in domain_files()
        if any(m == "rectify.cli" or m.startswith("rectify.cli.") for m in imported_modules(p))
    )
    assert found == [], f"domain modules importing rectify.cli: {found}"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def test_the_command_line_imports_prefect_only_inside_functions():
    """The flow-starting commands load Prefect when they run, never when the CLI loads."""
    found = []
    for path in sorted(CLI.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:  # module level
            tops = (
                {a.name.split(".")[0] for a in node.names}
                if isinstance(node, ast.Import)
                else {node.module.split(".")[0]}
                if isinstance(node, ast.ImportFrom) and node.module
                else set()
            )
            found += [(path.name, top) for top in tops & FORBIDDEN]
    assert found == []


def test_list_and_show_never_import_prefect(sqlite_url, tmp_path):
    """Both ways a read command runs: the console script's lean path and the typer app."""
    probe = (
        "import sys\nfrom rectify.cli import app, main\n"
        "for args in (['list'], ['list', '--json', '--as-of', '2026-11-30'], ['show', 'ZG-1'],"
        " ['show', 'ZG-1', '--json']):\n"
        "    for run in (lambda: (sys.argv.__setitem__(slice(1, None), args), main()), lambda: app(args)):\n"
        "        try:\n            run()\n        except SystemExit:\n            pass\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECTIFY_")}
    env["RECTIFY_DATABASE_URL"] = sqlite_url
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "没有符合条件的整改事项" in result.stdout and "ZG-1" in result.stderr  # both commands ran
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_no_test_module_imports_from_another_test_module():
    """Shared builders live in helper modules (tests/*_helpers.py, processes.py, ...) or conftest
    fixtures: importing a test module from another collects its tests twice in the importer's
    namespace and ties one file's tests to another's internals."""
    tests = sorted((ROOT / "tests").glob("*.py"))
    assert len(tests) > 50 and any(p.name == "test_layers.py" for p in tests)
    found = sorted(
        (p.name, m)
        for p in tests
        for m in imported_modules(p)
        if m.split(".")[0].startswith("test_") or m.startswith("tests.test_")
    )
    assert found == [], f"test modules importing from a test module: {found}"


def test_the_test_import_check_sees_every_form(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import test_x\nfrom tests.test_y import a\ndef later():\n    from test_z import b\n")
    tops = {m.split(".")[0] for m in imported_modules(sample)}
    assert {"test_x", "tests", "test_z"} <= tops and "tests.test_y" in imported_modules(sample)
