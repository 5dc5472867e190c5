# Two commands for a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: demo ui test install install-test bench lint

# uv (a PyPI package, installed into the venv by pip) installs exactly what uv.lock pins;
# --inexact leaves pip and uv themselves in place; --compile-bytecode writes the .pyc files pip
# would (uv does not by default, and with PYTHONDONTWRITEBYTECODE set every start would compile
# SQLAlchemy and Prefect again: `rectify show` took 1.9 s instead of 0.7 s). `uv lock` after
# changing pyproject.toml.
UV := $(BIN)/uv
SYNC := UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --inexact --compile-bytecode --quiet

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(UV): | $(BIN)/python
	$(BIN)/python -m pip install --quiet 'uv==0.13.9'

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(SYNC)
	touch $@

$(VENV)/.installed-test: pyproject.toml uv.lock | $(UV)
	$(SYNC) --extra test --extra lint
	touch $@ $(VENV)/.installed

# One install at a time per checkout: two `make test` started together in a fresh checkout would
# otherwise both create .venv and run uv into it at once (flock(1) from util-linux; without it,
# as before). The lock file is .install.lock, ignored by git.
LOCK := $(shell command -v flock >/dev/null 2>&1 && echo flock .install.lock)
SUBMAKE := $(MAKE) --no-print-directory
install:
	@$(SUBMAKE) -q $(VENV)/.installed || $(LOCK) $(SUBMAKE) $(VENV)/.installed
install-test:
	@$(SUBMAKE) -q $(VENV)/.installed-test || $(LOCK) $(SUBMAKE) $(VENV)/.installed-test

demo: install
	$(BIN)/python demo/run_demo.py

# The same demo in the Prefect UI: `rectify up` on ./demo-run and an intake of the demo register
# (PORT=4300 make ui for another port). Ctrl-C stops it.
ui: install
	$(BIN)/python demo/ui.py

# A few pytest-xdist workers (the suite mostly waits on servers and subprocesses, not on the CPU);
# e2e tests share one group so they never run two at once. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 4
test: install-test
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# ruff's lint rules and its format check (settings in pyproject.toml; `ruff format .` fixes the
# second), and mypy on the package.
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install-test
	$(BIN)/python bench/bench_mail.py
	$(BIN)/python bench/bench_sweep.py
	$(BIN)/python bench/bench_cli.py
	$(BIN)/python bench/bench_report.py
