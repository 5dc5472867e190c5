"""Keep a run's state tags current: the worklist tag of a waiting item run, the light tag.

Tags are the only thing the Prefect run list filters by, so the secretary's inbox is the runs
page filtered by 待审核. One family of tags is replaced as a whole (a run waits for one thing
and has one light); other tags (类别, 部门, 领导) stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

PAGE = 200  # the server's default page size


def replace_tags(flow_run_id: str | UUID, family: Iterable[str], new: list[str]) -> list[str]:
    from prefect.client.orchestration import get_client

    family = set(family)
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(str(flow_run_id)))
        kept = [t for t in run.tags if t not in family]
        tags = kept + [t for t in new if t not in kept]  # a tag it keeps is not written again
        if set(tags) != set(run.tags):  # unchanged (the usual first call of a resumed run): no write
            client.update_flow_run(UUID(str(flow_run_id)), tags=tags)
    return tags


def sync_light_tags(wanted: dict[str, str]) -> int:
    """Give each run in `wanted` its light tag and take it off every other run that has one.

    Reads only the runs that carry a light tag now or should carry one, and writes only those
    whose tag changed; returns how many were written."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterTags

    from rectify.waits import LIGHT_TAGS

    family = set(LIGHT_TAGS)
    changed = 0
    with get_client(sync_client=True) as client:

        def read(flt: FlowRunFilter) -> None:
            offset = 0
            while batch := client.read_flow_runs(flow_run_filter=flt, limit=PAGE, offset=offset):
                runs.update({str(r.id): r for r in batch})
                offset += PAGE

        runs: dict = {}
        read(FlowRunFilter(tags=FlowRunFilterTags(any_=list(LIGHT_TAGS))))
        ids = [UUID(i) for i in wanted if i not in runs]
        for start in range(0, len(ids), PAGE):
            read(FlowRunFilter(id=FlowRunFilterId(any_=ids[start : start + PAGE])))
        for run_id, run in runs.items():
            tags = [t for t in run.tags if t not in family] + ([wanted[run_id]] if run_id in wanted else [])
            if tags != list(run.tags):
                client.update_flow_run(run.id, tags=tags)
                changed += 1
    return changed
