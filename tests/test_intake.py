"""The intake flow: an all-or-nothing import, then one item run per item, never two."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from models import Item
from models.db import session_factory

pytestmark = pytest.mark.flow


@pytest.fixture
def register(tmp_path):
    from demo.register import build

    return build(tmp_path / "整改清单.xlsx")


def item_runs(deployment_id) -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            limit=200,
        )
    return {str(r.id): r for r in runs}


def run_links(url: str) -> dict[str, str | None]:
    with session_factory(url)() as s:
        return dict(s.execute(select(Item.code, Item.flow_run_id)).all())


def test_intake_twice_makes_one_run_per_item(db_url, settings_env, register, item_deployment):
    from demo.register import ITEMS
    from flows.intake import intake

    settings_env(db_url)
    # A register day of its own per backend: the idempotency key includes it, and both
    # backends' ledgers hold the same codes on the one Prefect server.
    day = date(2026, 11, 2) if db_url.startswith("sqlite") else date(2026, 11, 3)

    first = intake(paths=[str(register)], actor="陈静", day=day)
    assert len(first["created"]) == len(ITEMS)
    links = run_links(db_url)
    assert all(links.values()) and len(set(links.values())) == len(ITEMS)
    runs = item_runs(item_deployment)
    assert set(links.values()) <= set(runs)

    run = runs[links["ZG-2026-001"]]
    assert run.name == "ZG-2026-001 学习形式还不够丰富"
    assert {"类别:班子问题", "部门:机关党支部", "领导:周建国"} <= set(run.tags)
    assert run.parameters == {"code": "ZG-2026-001", "title": "学习形式还不够丰富"}
    # waiting for the closure submission, never executed: the intake signed the assignment
    assert run.state.is_paused() and run.state.state_details.pause_key == "submit-1-0"
    assert all(runs[r].state.is_paused() for r in links.values())

    second = intake(paths=[str(register)], actor="陈静", day=day)
    assert second["created"] == [] and second["linked"] == 0 and second["runs"] == {}
    assert run_links(db_url) == links
    assert set(item_runs(item_deployment)) == set(runs)


def test_runs_are_created_once_even_when_the_link_was_lost(
    sqlite_url, settings_env, register, item_deployment
):
    """A crash after the runs were created but before their ids were stored: the retry gets the
    same runs back from Prefect (idempotency key) instead of making new ones."""
    from flows.intake import intake, start_item_runs
    from rectify import item_process

    db_url = sqlite_url
    settings_env(db_url)
    day = date(2026, 11, 9)
    intake(paths=[str(register)], actor="陈静", day=day)
    links = run_links(db_url)
    with session_factory(db_url)() as s, s.begin():
        for item in s.scalars(select(Item)):
            item.flow_run_id = None
    before = set(item_runs(item_deployment))

    again = intake(paths=[str(register)], actor="陈静", day=day)
    assert again["linked"] == len(links)
    assert run_links(db_url) == links
    assert set(item_runs(item_deployment)) == before

    from rectify import waits
    from tasks.waiting_runs import wait_request

    with item_process.transaction(db_url) as s:
        wait = wait_request(waits.current_wait(s, "ZG-2026-001"))
    pending = [
        {
            "code": "ZG-2026-001",
            "key": f"ZG-2026-001@{day.isoformat()}",
            "name": "x",
            "title": "x",
            "tags": [],
            "wait": wait,
        }
    ]
    ids = start_item_runs.fn(pending, "rectification-item/rectification-item")
    assert ids == {"ZG-2026-001": links["ZG-2026-001"]}
    with session_factory(db_url)() as s, s.begin():
        assert item_process.link_run(s, "ZG-2026-001", "another") is False


def test_a_refused_register_starts_no_runs(db_url, settings_env, tmp_path, item_deployment):
    from openpyxl import Workbook

    from flows.intake import intake

    settings_env(db_url)
    wb = Workbook()
    wb.active.append(["序号", "问题描述", "整改措施", "整改时限", "责任领导"])
    wb.active.append(["X-1", "问题", "措施", "下辈子", "无名氏"])
    path = tmp_path / "bad.xlsx"
    wb.save(path)
    before = set(item_runs(item_deployment))

    state = intake(paths=[str(path)], actor=None, day=date(2026, 11, 2), return_state=True)
    # one line, not a traceback; every bad cell in the run's table artifact
    assert state.is_failed() and state.message == "导入被拒绝：发现2处问题，台账未作任何修改"
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    rows = artifact.data if isinstance(artifact.data, list) else __import__("json").loads(artifact.data)
    assert [(r["行"], r["列"], r["内容"]) for r in rows] == [
        (2, "整改时限", "下辈子"),
        (2, "责任领导", "无名氏"),
    ], rows
    assert all(r["原因"] for r in rows)
    assert run_links(db_url) == {}
    assert set(item_runs(item_deployment)) == before


def test_the_intake_artifact_escapes_the_register_text(sqlite_url, settings_env, register, item_deployment):
    """The UI renders the artifact as Markdown: a description cannot become an image or a link,
    nor a `|` break the table."""
    from openpyxl import load_workbook
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    from flows.intake import intake

    wb = load_workbook(register)
    cell = next(
        c
        for row in wb.worksheets[0].iter_rows()
        for c in row
        if str(c.value or "").startswith("学习形式还不够丰富")
    )
    cell.value = "![图](x:y)|学习形式还不够丰富，学习方式较为单一。"
    wb.save(register)
    settings_env(sqlite_url)

    state = intake(paths=[str(register)], actor="陈静", day=date(2026, 11, 16), return_state=True)
    assert state.is_completed(), state
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
                key=ArtifactFilterKey(any_=["intake"]),
            )
        )
    row = next(line for line in artifact.data.splitlines() if line.startswith("| ZG-2026-001 "))
    assert "| \\!\\[图\\](x:y)\\|学习形式还… |" in row
    assert row.count(" | ") == 2  # still three cells


def test_intake_completes_through_503s(sqlite_url, settings_env, register, item_deployment):
    """The server answers 503 to the first run creations and form saves (calls in which Prefect's
    client does not retry on its own): tasks.prefect_api retries, every item gets one run.
    The intake's steps are called as its flow calls them, only the run creation through the
    proxy (the flow engine's own calls do not go through the project's API layer)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from api_proxy import FlakyProxy
    from demo.register import ITEMS
    from flows.intake import ITEM_DEPLOYMENT, import_register_task, link_runs, start_item_runs

    settings_env(sqlite_url, api_patience_seconds="60")
    pending = import_register_task.fn([str(register)], "陈静", date(2026, 11, 23))["pending"]
    # two proxies in a row: the first answers 503 to run creations, the second to form saves
    with (
        FlakyProxy(PREFECT_API_URL.value(), fail_first=5, path=r"/input$") as saves,
        FlakyProxy(saves.url, fail_first=3, path=r"/create_flow_run/bulk$") as creates,
        temporary_settings({PREFECT_API_URL: creates.url}),
    ):
        runs = start_item_runs.fn(pending, ITEM_DEPLOYMENT)
    assert link_runs.fn(runs) == len(ITEMS)
    assert len(creates.refused) == 3 and len(saves.refused) == 5
    # one creation call for the whole register (up to 100 runs each), then schema and description
    assert len([p for p in creates.forwarded if p.endswith("/create_flow_run/bulk")]) == 1
    assert len([p for p in saves.forwarded if p.endswith("/input")]) == 2 * len(ITEMS)
    links = run_links(sqlite_url)
    assert len(set(links.values())) == len(ITEMS) and all(links.values())
    all_runs = item_runs(item_deployment)
    assert all(all_runs[r].state.is_paused() for r in links.values())


def test_an_intake_interrupted_anywhere_and_started_again_makes_one_run_per_item(
    sqlite_url, settings_env, register, item_deployment
):
    """Stopped after the ledger commit (no run yet), after some runs were created (not linked),
    and with one run created but not yet suspended: the next intake finishes the job."""
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    from demo.register import ITEMS
    from flows.intake import import_register_task, intake, start_item_runs

    settings_env(sqlite_url)
    day = date(2026, 11, 24)
    imported = import_register_task.fn([str(register)], "陈静", day)  # ledger committed, then killed
    pending = imported["pending"]
    assert len(pending) == len(ITEMS) and run_links(sqlite_url) == {p["code"]: None for p in pending}
    before = set(item_runs(item_deployment))
    half = start_item_runs.fn(pending[:5], "rectification-item/rectification-item")
    with get_client(sync_client=True) as client:  # killed between creating a run and suspending it
        half_made = client.create_flow_run_from_deployment(
            item_deployment,
            parameters={"code": pending[5]["code"]},
            name=pending[5]["name"],
            idempotency_key=pending[5]["key"],
            state=Running(),
        )

    state = intake(paths=[str(register)], actor="陈静", day=day, return_state=True)
    assert state.is_completed(), state
    links = run_links(sqlite_url)
    assert all(links[c] == r for c, r in half.items())
    assert links[pending[5]["code"]] == str(half_made.id)
    new = set(item_runs(item_deployment)) - before
    assert new == set(links.values()) and len(new) == len(ITEMS)
    runs = item_runs(item_deployment)
    assert all(runs[r].state.is_paused() for r in links.values())
    assert runs[str(half_made.id)].state.state_details.pause_key == "submit-1-0"
