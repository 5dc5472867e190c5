"""What the code relies on inside Prefect, pinned so that an upgrade that changes it fails here.

uv.lock pins Prefect; these tests say what must still hold when someone moves the pin:
- the JSON schema the UI renders for a waiting run's form (Chinese titles and descriptions,
  the 审核结论 choices, prefilled defaults, required fields);
- the flow-run input keys a suspended run writes (`suspended-<pause key>-description|schema|
  response`), which the tests and the UI read, and the paused-state fields `rectify submit` /
  `review` use to find the wait (`is_paused()`, `state_details.pause_key`);
- prefect.yaml as `prefect deploy --all` loads it and as `rectify serve` / `rectify up` build it.
No server is needed: these are the pure parts of the contract; test_item_flow.py and
test_e2e_ui.py exercise the same keys against the real API.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rectify.item_process import APPROVE, REJECT

PROJECT = Path(__file__).resolve().parent.parent


def form_schema(form) -> dict:
    """The schema exactly as RunInput.save stores it for the UI."""
    from prefect._internal.pydantic.v2_schema import create_v2_schema

    return create_v2_schema(form.__name__, model_base=form)


def review_form(entered: dict | None = None, reviewers=("陈静", "王芳")):
    """The secretary's 销号审核 form as the run builds it (rectify.waits + flows.forms)."""
    from flows.forms import build_form
    from rectify.waits import Wait, _decision_fields

    wait = Wait(
        "review",
        "review-1",
        "销号审核",
        _decision_fields("秘书", reviewers, entered or {}),
        "**待审核** ZG-2026-001",
    )
    return build_form(wait)


def test_review_form_schema_as_the_ui_renders_it():
    schema = form_schema(review_form())
    props = schema["properties"]
    assert [props[k]["title"] for k in ("decision", "comment", "reviewer", "code")] == [
        "审核结论",
        "审核意见",
        "审核人",
        "验证码",
    ]
    assert props["comment"]["default"] == ""
    assert sorted(schema["required"]) == ["code", "decision", "reviewer"]
    # choices as an inline enum the UI renders as a drop-down (also for a single name)
    assert props["decision"]["enum"] == [APPROVE, REJECT] and props["decision"]["type"] == "string"
    assert props["reviewer"]["enum"] == ["陈静", "王芳"]
    assert form_schema(review_form(reviewers=("陈静",)))["properties"]["reviewer"]["enum"] == ["陈静"]
    assert schema["additionalProperties"] is False  # a stray key in a resume is refused


def test_submission_form_schema_lists_evidence_as_strings():
    from flows.forms import build_form
    from models import Item, Measure
    from rectify.waits import Wait, _submission_fields

    item = Item(code="ZG-2026-001", measures=[Measure(position=0, text="措施一")])
    wait = Wait("submit", "submit-1", "销号申请", _submission_fields(item, ("刘洋", "周建国"), {}))
    props = form_schema(build_form(wait))["properties"]
    assert props["summary"]["title"] == "整改情况说明"
    evidence = props["evidence"]
    assert evidence["type"] == "array" and evidence["items"]["type"] == "string"
    assert props["submitter"]["title"] == "提交人" and props["submitter"]["enum"] == ["刘洋", "周建国"]
    assert props["code"]["title"] == "验证码"


def test_prefilled_form_keeps_titles_and_shows_defaults():
    """What a person entered before a refusal comes back as the defaults (the code excepted)."""
    props = form_schema(
        review_form({"decision": REJECT, "comment": "缺少文件", "reviewer": "王芳", "code": "123456"})
    )["properties"]
    assert props["decision"]["default"] == REJECT and props["decision"]["title"] == "审核结论"
    assert props["comment"]["default"] == "缺少文件" and props["reviewer"]["default"] == "王芳"
    assert "default" not in props["code"]


def test_form_description_is_what_the_run_saves():
    form = review_form()
    assert form._description == "**待审核** ZG-2026-001"
    assert form.__name__ == "ClosureReview"


def test_resume_input_validates_into_the_values_the_flow_hands_the_domain():
    form = review_form()
    values = {"decision": APPROVE, "comment": "", "reviewer": "陈静", "code": "123456"}
    assert form.model_validate(values).model_dump(mode="json") == values
    with pytest.raises(ValueError):
        form.model_validate({**values, "decision": "随便"})
    with pytest.raises(ValueError):
        form.model_validate({**values, "reviewer": "赵磊"})  # not a secretary: not a choice
    with pytest.raises(ValueError):
        form.model_validate({**values, "extra": "x"})


def test_suspended_state_keys_and_fields():
    from prefect.input.run_input import keyset_from_paused_state
    from prefect.states import Suspended

    state = Suspended(pause_key="review-1-0")
    assert state.is_paused() and state.state_details.pause_key == "review-1-0"
    assert keyset_from_paused_state(state) == {
        "description": "suspended-review-1-0-description",
        "response": "suspended-review-1-0-response",
        "schema": "suspended-review-1-0-schema",
    }


def test_prefect_yaml_loads_as_prefect_deploy_reads_it():
    from prefect.cli.deploy._config import _load_deploy_configs_and_actions
    from rich.console import Console

    configs, actions = _load_deploy_configs_and_actions(PROJECT / "prefect.yaml", console=Console())
    by_name = {c["name"]: c for c in configs}
    assert sorted(by_name) == ["deadline-watch", "intake", "next-steps-report", "rectification-item"]
    assert by_name["rectification-item"]["entrypoint"] == "flows/item.py:rectification_item"
    assert {c["work_pool"]["name"] for c in configs} == {"rectify"}
    assert by_name["deadline-watch"]["schedules"] == [{"cron": "30 8 * * *", "timezone": "Asia/Shanghai"}]
    (step,) = actions["pull"]
    assert step == {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $RECTIFY_HOME }}"}}
    from prefect.deployments.steps import set_working_directory  # the step still exists

    assert callable(set_working_directory)


def test_serve_builds_every_deployment_with_its_schedule():
    from rectify.cli.flows import build_deployments, load_deployment_specs

    deployments = {d.name: d for d in build_deployments(load_deployment_specs(PROJECT / "prefect.yaml"))}
    assert sorted(deployments) == ["deadline-watch", "intake", "next-steps-report", "rectification-item"]
    (watch,) = deployments["deadline-watch"].schedules
    assert (watch.schedule.cron, watch.schedule.timezone) == ("30 8 * * *", "Asia/Shanghai")
    assert deployments["rectification-item"].flow_name == "rectification-item"
    assert not deployments["intake"].schedules


def test_what_the_guarded_server_adds_to_prefect_s_app():
    """flows/api_guard.create_app: the API app Prefect mounts at /api (its route added there,
    behind Prefect's auth), the bulk creation route, and the SQLite transaction it begins."""
    import inspect

    from prefect.server.api import deployments, flow_runs
    from prefect.server.database.configurations import SQLITE_BEGIN_MODE, AioSqliteConfiguration

    from flows import sqlite_writes
    from flows.api_guard import create_app

    app = create_app().app
    assert any(getattr(r, "path", None) == "/rectify/run_forms" for r in app.api_app.routes)
    paths = {r.path for r in deployments.router.routes}
    assert sqlite_writes.WRITE_FIRST_ROUTES.search("/api/deployments/abc/create_flow_run/bulk")
    assert sqlite_writes.WRITE_FIRST_ROUTES.search("/api/flow_runs/abc/resume")
    assert not sqlite_writes.WRITE_FIRST_ROUTES.search("/api/flow_runs/abc/set_state")
    assert "/deployments/{id:uuid}/create_flow_run/bulk" in paths
    assert "/flow_runs/{id:uuid}/resume" in {r.path for r in flow_runs.router.routes}
    assert "with_for_update" in inspect.signature(AioSqliteConfiguration.begin_transaction).parameters
    assert SQLITE_BEGIN_MODE.get() is None
    assert AioSqliteConfiguration.begin_transaction.rectify_write_first  # installed once, kept
