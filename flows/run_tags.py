"""Keep a run's state tags current: the worklist tag of a waiting item run, the light tag.

Tags are the only thing the Prefect run list filters by, so the secretary's inbox is the runs
page filtered by 待审核. One family of tags is replaced as a whole (a run waits for one thing
and has one light); other tags (类别, 部门, 领导) stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID


def replace_tags(flow_run_id: str | UUID, family: Iterable[str], new: list[str]) -> list[str]:
    from prefect.client.orchestration import get_client

    family = set(family)
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(str(flow_run_id)))
        tags = [t for t in run.tags if t not in family] + [t for t in new if t not in run.tags]
        if tags != list(run.tags):
            client.update_flow_run(UUID(str(flow_run_id)), tags=tags)
    return tags
