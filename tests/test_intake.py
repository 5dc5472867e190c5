"""The intake flow: an all-or-nothing import, then one item run per item, never two."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from models import Item
from models.db import session_factory

pytestmark = pytest.mark.flow


@pytest.fixture(scope="module")
def item_deployment(prefect_harness):
    from flows.item import rectification_item

    return rectification_item.to_deployment(name="rectification-item").apply()


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
    assert run.parameters["code"] == "ZG-2026-001" and run.parameters["secretary"] == "陈静"
    assert run.state.is_scheduled()

    second = intake(paths=[str(register)], actor="陈静", day=day)
    assert second["created"] == [] and second["linked"] == 0 and second["runs"] == {}
    assert run_links(db_url) == links
    assert set(item_runs(item_deployment)) == set(runs)


def test_runs_are_created_once_even_when_the_link_was_lost(sqlite_url, settings_env, register,
                                                           item_deployment):
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

    pending = [{"code": "ZG-2026-001", "key": f"ZG-2026-001@{day.isoformat()}", "name": "x",
                "title": "x", "tags": []}]
    ids = start_item_runs.fn(pending, "rectification-item/rectification-item", "陈静")
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
        (artifact,) = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    rows = artifact.data if isinstance(artifact.data, list) else __import__("json").loads(artifact.data)
    assert [(r["行"], r["列"], r["内容"]) for r in rows] == [(2, "整改时限", "下辈子"),
                                                            (2, "责任领导", "无名氏")], rows
    assert all(r["原因"] for r in rows)
    assert run_links(db_url) == {}
    assert set(item_runs(item_deployment)) == before


def test_the_intake_artifact_escapes_the_register_text(sqlite_url, settings_env, register,
                                                       item_deployment):
    """The UI renders the artifact as Markdown: a description cannot become an image or a link,
    nor a `|` break the table."""
    from openpyxl import load_workbook
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (ArtifactFilter, ArtifactFilterFlowRunId,
                                                ArtifactFilterKey)

    from flows.intake import intake

    wb = load_workbook(register)
    cell = next(c for row in wb.worksheets[0].iter_rows() for c in row
                if str(c.value or "").startswith("学习形式还不够丰富"))
    cell.value = "![图](x:y)|学习形式还不够丰富，学习方式较为单一。"
    wb.save(register)
    settings_env(sqlite_url)

    state = intake(paths=[str(register)], actor="陈静", day=date(2026, 11, 16), return_state=True)
    assert state.is_completed(), state
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
            key=ArtifactFilterKey(any_=["intake"])))
    row = next(line for line in artifact.data.splitlines() if line.startswith("| ZG-2026-001 "))
    assert "| \\!\\[图\\](x:y)\\|学习形式还… |" in row
    assert row.count(" | ") == 2  # still three cells
