"""Work items for a run: persona x topic x k, minus what the store already holds (resume)."""

from __future__ import annotations

from dataclasses import dataclass

from synth.models import RunSpec, WorkItem


@dataclass
class Plan:
    items: list[WorkItem]  # every conversation the run should hold, in order
    todo: list[WorkItem]  # what this start will write (missing ones, capped by the limit)
    already_done: int

    @property
    def total(self) -> int:
        return len(self.items)


def all_items(spec: RunSpec) -> list[WorkItem]:
    run_id = spec.run_id
    return [WorkItem(run_id=run_id, topic=t, k=k)
            for k in range(spec.per_topic) for t in spec.topics.topics]


def plan(spec: RunSpec, finished: set[str]) -> Plan:
    """Topics first, then repeats: with a limit, a run covers many topics before repeating one."""
    items = all_items(spec)
    missing = [it for it in items if it.conversation_id not in finished]
    todo = missing if spec.limit is None else missing[: max(0, spec.limit)]
    return Plan(items=items, todo=todo, already_done=len(items) - len(missing))
