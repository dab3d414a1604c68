"""Named datasets: a list of runs kept in the workspace's catalog, exported as one fine-tune set.

A fine-tune set is rarely one run: it mixes personas, topic lists, models and runs made before a
persona was improved.  A dataset names the runs (and whether to take only what you accepted);
``chatsynth dataset new|add|remove|show|list|delete`` and the app keep it, and ``chatsynth
export NAME`` exports it like a run (``synth.dataset.export.export_dataset``).  Every change is checked
first and refused whole: nothing stored changes on a mistake.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from tinydb import Query

from synth import checks
from synth.errors import ChatsynthError
from synth.wording import plural


class DatasetError(ChatsynthError):
    """A dataset that does not exist, or a change to one that can't be made."""


@dataclass
class Dataset:
    name: str
    runs: list[str]
    only_accepted: bool = False
    created_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "runs": list(self.runs), "only_accepted": self.only_accepted,
                "created_at": self.created_at}


@dataclass
class RunCounts:
    """One run of a dataset, as `dataset show` lists it."""

    run_id: str
    persona: str
    topics: str
    model: str
    stored: int = 0
    accepted: int = 0
    passing: int = 0  # pass every filter, not decided
    flagged: int = 0  # flagged (or partial), not decided
    rejected: int = 0
    problems: list[str] = field(default_factory=list)


class Datasets:
    """The datasets of one store's catalog."""

    def __init__(self, store: Any) -> None:
        self.store = store

    # -- reading ------------------------------------------------------------------------------
    def all(self) -> list[Dataset]:
        with self.store.catalog() as db:
            rows = db.table("datasets").all()
        return sorted((_from_row(r) for r in rows), key=lambda d: d.created_at)

    def names(self) -> list[str]:
        return [d.name for d in self.all()]

    def get(self, name: str) -> Dataset:
        for d in self.all():
            if d.name == name:
                return d
        have = ", ".join(self.names()) or "none yet"
        raise DatasetError(f"no dataset {name!r} (have: {have}); make one with "
                           "`chatsynth dataset new NAME --runs RUN ...`", field="dataset")

    def exists(self, name: str) -> bool:
        return name in self.names()

    # -- changing -----------------------------------------------------------------------------
    def _resolve(self, refs: Sequence[str]) -> list[str]:
        """Run ids for ``refs`` (ids, unique prefixes or `latest`), each at most once."""
        out: list[str] = []
        for ref in refs:
            run_id = self.store.resolve_run(ref)
            if run_id in out:
                raise DatasetError(f"run {run_id} is named twice", field="runs")
            out.append(run_id)
        return out

    def create(self, name: str, runs: Sequence[str], *, only_accepted: bool = False) -> Dataset:
        name = checks.name(name, field="dataset", error=DatasetError)
        if self.exists(name):
            raise DatasetError(f"a dataset named {name!r} already exists; add runs to it with "
                               f"`chatsynth dataset add {name} RUN`", field="dataset")
        if not runs:
            raise DatasetError("a dataset needs at least one run (--runs RUN ...)", field="runs")
        ds = Dataset(name, self._resolve(runs), only_accepted, time.time())
        with self.store.catalog() as db:
            db.table("datasets").insert(ds.to_dict())
        return ds

    def add(self, name: str, runs: Sequence[str]) -> Dataset:
        ds = self.get(name)
        new = self._resolve(runs)
        already = [r for r in new if r in ds.runs]
        if already:
            raise DatasetError(f"run {already[0]} is already in dataset {name!r}", field="runs")
        ds.runs += new
        self._save(ds)
        return ds

    def remove(self, name: str, runs: Sequence[str]) -> Dataset:
        ds = self.get(name)
        gone = []
        for ref in runs:
            hits = [r for r in ds.runs if r.startswith(ref)]
            if len(hits) != 1:
                what = "no run" if not hits else f"{len(hits)} runs"
                raise DatasetError(f"{what} matching {ref!r} in dataset {name!r} "
                                   f"(it holds {', '.join(ds.runs) or 'none'})", field="runs")
            gone.append(hits[0])
        ds.runs = [r for r in ds.runs if r not in gone]
        self._save(ds)
        return ds

    def delete(self, name: str) -> None:
        self.get(name)
        with self.store.catalog() as db:
            db.table("datasets").remove(Query().name == name)

    def _save(self, ds: Dataset) -> None:
        with self.store.catalog() as db:
            db.table("datasets").update(ds.to_dict(), Query().name == ds.name)

    # -- counting -----------------------------------------------------------------------------
    def counts(self, name: str) -> list[RunCounts]:
        """Per run: stored, accepted, passing, flagged, rejected (the review's own states)."""
        from synth.curate.review import Review

        out = []
        for run_id in self.get(name).runs:
            try:
                spec = self.store.get_spec(run_id)
            except ChatsynthError as err:
                out.append(RunCounts(run_id, "?", "?", "?", problems=[str(err)]))
                continue
            rs = Review(self.store, run_id, spec.persona).load()
            c = RunCounts(run_id, spec.persona.id, spec.topics.id, spec.model, len(rs.items),
                          problems=list(rs.problems))
            for it in rs.items:
                if it.decision == "accepted":
                    c.accepted += 1
                elif it.decision == "rejected":
                    c.rejected += 1
                elif it.verdict.ok:
                    c.passing += 1
                else:
                    c.flagged += 1
            out.append(c)
        return out


def describe(ds: Dataset) -> str:
    took = "only what you accepted" if ds.only_accepted else "what you accepted or what passes"
    return f"dataset {ds.name}: {plural(len(ds.runs), 'run')}, takes {took}"


def _from_row(row: dict[str, Any]) -> Dataset:
    return Dataset(str(row.get("name", "?")), list(row.get("runs") or []),
                   bool(row.get("only_accepted", False)), float(row.get("created_at", 0.0)))
