"""`rectify serve` starts each flow run from a pre-imported fork server, not a fresh interpreter.

A person's form (UI Resume, `rectify submit`) makes the item's run Scheduled; `rectify serve`
(Prefect's Runner) then starts a process that executes the run until its next wait. Prefect 3.9.1
starts that process one of two ways (prefect/runner/runner.py, `_resolve_starter`): for
`serve(*deployments)` it spawns `python -m prefect.engine`, and for a deployment whose flow object
the Runner holds it uses `run_flow_in_subprocess` (prefect/flow_engine.py) with the multiprocessing
*spawn* context. Both are a new interpreter that imports Prefect, SQLAlchemy and the flow: on this
2-core machine 6 s at load 5 and 10–30 s at load 10–20, against well under a second for what the
run then does. That import, paid once per form, was the whole latency of a form.

Here the served flow objects are registered with the Runner (so it takes the `run_flow_in_subprocess`
path, `DirectSubprocessStarter`) and that module-level function, which `prefect.runner._starter_direct`
documents as the point to patch, is replaced by `run_flow_in_forkserver`: the same body (copied
from Prefect 3.9.1 `run_flow_in_subprocess`) with the multiprocessing *forkserver* context whose
server has imported Prefect's engine and the flow modules once (`set_forkserver_preload`). Each run
is then a fork of that idle, single-threaded server: milliseconds, memory shared copy-on-write.

A slot freed by a finished run looks for the next queued run at once (`prompt_limit_manager`)
instead of at the Runner's next poll, so a burst of forms keeps every slot busy.

What stays as it was: one process per run (a crash of one run ends that process only; serve and the
fork server go on, and multiprocessing restarts a fork server that died); the Runner's process
handle has the run's real pid, so Cancel in the UI sends it the control intent and SIGTERM as
before; the Runner's `limit` bounds the runs at once and the rest queue; the run logs through the
API to its page as any run does.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.forkserver
import os
from collections.abc import Iterable
from typing import Any

# Imported by the fork server before it forks any run: Prefect's engine and runtime, the project's
# flows and the task modules they import lazily. Flow modules of prefect.yaml are added by `serve`.
# What a resumed item run still imported in its forked child was measured (sys.modules before and
# after the run, 2026-12-03): graphviz through prefect.utilities.visualization, the mail stack
# (notifications.*, aiosmtplib, email.*), sqlite3, Prefect's observers: now preloaded, and
# flows.fork_warmup does once what each run redid (templates compiled, ORM mappers configured).
PRELOAD = [
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.flow_runs",
    "prefect.input.run_input",
    "prefect.logging.handlers",
    "prefect.runtime.flow_run",
    "prefect.results",
    "prefect.utilities.visualization",
    "prefect._internal.observers",
    "prefect._internal._observation_delivery",
    "prefect.artifacts",
    "rich._emoji_codes",
    "anyio.streams.memory",
    "anyio.streams.stapled",
    "anyio.streams.tls",
    "encodings.idna",
    "stringprep",
    "sqlite3",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "aiosmtplib",
    "email.policy",
    "email.generator",
    "flows.serve_runner",
    "flows.item",
    "tasks.reminders",
    "tasks.run_tags",
    "rectify.delivery",
    "rectify.describe",
    "notifications.smtp",
    "notifications.compose",
    "notifications.wire",
    "notifications.headers",
    "flows.fork_warmup",
]


def _by_reference(flow) -> tuple[str, str] | None:
    """(module, name) under which the flow object is importable, else None.

    A flow pickled by value (what cloudpickle does with its function) loses the module globals its
    annotations name (`from __future__ import annotations`: "date"), and Prefect's parameter model
    then fails in the child ("`IntakeModel` is not fully defined"). The fork server has imported
    the module already, so looking it up by name costs nothing and is exactly the served object.
    """
    import importlib

    module, name = flow.fn.__module__, flow.fn.__name__
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return (module, name) if found is flow else None


def _run_flow_with_env(
    *args: Any, env: dict[str, str] | None = None, remove_env: set[str] | None = None, **kwargs: Any
) -> None:
    """In the forked child: the run's environment and settings, then the flow (Prefect's own
    `run_flow_with_env`, module level here so that it pickles by reference)."""
    import importlib

    from prefect.context import SettingsContext, get_settings_context
    from prefect.engine import handle_engine_signals
    from prefect.flow_engine import _runtime_subprocess_env, run_flow
    from prefect.settings import Settings

    for key in remove_env or ():
        os.environ.pop(key, None)
    os.environ.update(_runtime_subprocess_env(env))
    settings_context = get_settings_context()
    if isinstance(kwargs.get("flow"), tuple):  # (module, name): see _by_reference
        module, name = kwargs["flow"]
        kwargs["flow"] = getattr(importlib.import_module(module), name)
    with SettingsContext(profile=settings_context.profile, settings=Settings()):
        flow_run = kwargs.get("flow_run")
        with handle_engine_signals(getattr(flow_run, "id", None)):
            maybe_coro = run_flow(*args, **kwargs)
            if asyncio.iscoroutine(maybe_coro):
                asyncio.run(maybe_coro)


def run_flow_in_forkserver(
    flow,
    flow_run=None,
    parameters: dict[str, Any] | None = None,
    wait_for: Iterable[Any] | None = None,
    context: dict[str, Any] | None = None,
    env: dict[str, str | None] | None = None,
):
    """Prefect 3.9.1's `run_flow_in_subprocess`, started from the fork server (see the docstring)."""
    from prefect.context import serialize_context
    from prefect.flow_engine import (
        _CONTROL_CHANNEL_ENV_KEYS,
        _run_serialized_call_with_control_bootstrap,
        _runtime_subprocess_env,
    )
    from prefect.settings import get_current_settings
    from prefect.utilities.callables import cloudpickle_wrapped_call
    from prefect.utilities.processutils import sanitize_subprocess_env

    context = context or serialize_context()
    merged_env: dict[str, str | None] = {
        **get_current_settings().to_environment_variables(exclude_unset=True)
    }
    merged_env = (
        merged_env
        | dict(os.environ)
        | {"PREFECT__ENABLE_CANCELLATION_AND_CRASHED_HOOKS": "false"}
        | (env or {})
    )
    sanitized = sanitize_subprocess_env(merged_env)
    startup_env = {k: v for k, v in sanitized.items() if k in _CONTROL_CHANNEL_ENV_KEYS}
    wrapped = cloudpickle_wrapped_call(
        _run_flow_with_env,
        env=_runtime_subprocess_env(sanitized),
        remove_env={k for k, v in merged_env.items() if v is None},
        flow=_by_reference(flow) or flow,
        flow_run=flow_run,
        parameters=parameters,
        wait_for=wait_for,
        context=context,
    )
    payload = wrapped.args[0]  # type: ignore[attr-defined]  # a functools.partial
    process = multiprocessing.get_context("forkserver").Process(
        target=_run_serialized_call_with_control_bootstrap, args=(payload, startup_env)
    )
    process.start()
    return process


def start_forkserver(modules: Iterable[str]) -> None:
    """Start the fork server now, with Prefect and the flows imported, so that the first form
    does not pay for it; later runs are forks of it."""
    import importlib.util

    wanted = [m for m in dict.fromkeys([*PRELOAD, *modules]) if _importable(importlib.util, m)]
    multiprocessing.set_forkserver_preload(wanted)
    multiprocessing.forkserver.ensure_running()


def _importable(util, module: str) -> bool:
    try:
        return util.find_spec(module) is not None
    except ImportError:
        return False


def prompt_limit_manager(limit: int | None, runner):
    """The Runner's LimitManager (prefect/runner/_limit_manager.py 3.9.1), except that a slot
    freed by a run whose process ended looks for the next queued run at once.

    Without it a resumed run queued behind the limit waits for the Runner's next poll (every
    `query_seconds`, 1 s here, ±30 %): in a burst of forms each of the `limit` slots sat idle
    about half a poll between two runs. The bound is the same: the poller still takes a slot
    with `acquire()` before it submits a run, and skips a run it is already submitting.
    """
    from prefect.runner._limit_manager import LimitManager

    class PromptLimitManager(LimitManager):
        def release(self, token) -> None:
            super().release(token)
            if self._limit is not None and not runner.stopping:
                task = asyncio.get_running_loop().create_task(_poll(runner))
                _KICKS.add(task)
                task.add_done_callback(_KICKS.discard)

    return PromptLimitManager(limit=limit)


_KICKS: set = set()  # the pending look-ups (a task nobody holds may be garbage-collected)


async def _poll(runner) -> None:
    try:
        await runner._get_and_submit_flow_runs()
    except Exception as exc:  # the regular poll tries again within `query_seconds`
        import logging

        logging.getLogger("rectify.serve").debug("立即查询待执行的运行失败：%s", exc)


def serve_forked(deployments: list, flows: list, *, limit: int, query_seconds: float | None) -> None:
    """`prefect.serve(*deployments)` (prefect/flows.py 3.9.1), with every run started by a fork of
    the pre-imported server. `flows[i]` is the flow object of `deployments[i]`."""
    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner, _starter_direct

    _starter_direct.run_flow_in_subprocess = run_flow_in_forkserver
    start_forkserver(sorted({f.fn.__module__ for f in flows}))
    runner = Runner(pause_on_shutdown=True, limit=limit, query_seconds=query_seconds)
    runner._limit_manager = prompt_limit_manager(runner.limit, runner)  # before start()
    for deployment, flow_obj in zip(deployments, flows, strict=True):
        deployment.work_pool_name = None
        deployment_id: Any = runner.add_deployment(deployment)  # sync call here: a UUID
        # The Runner then starts this deployment's runs with DirectSubprocessStarter (the flow
        # object it holds) instead of `python -m prefect.engine`.
        runner._deployment_registry.register_flow(deployment_id, flow_obj)
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal):
        pass
