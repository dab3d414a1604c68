"""Runs, their specs and their conversations: the only module that touches a run's files.

Layout under the workspace's ``runs/``::

    catalog.json               TinyDB: runs, review decisions, run metadata (atomic rewrite)
    <run_id>/spec.json         the run's spec, persona and topics as they were (atomic rewrite)
    <run_id>/conversations.jsonl
                               a header line, then one JSON line per stored conversation,
                               appended with one write() and fsync'd: O(1) per conversation
    <run_id>/quarantine/       half-written tails and unreadable lines set aside, never deleted

Each conversation is one write() of one whole line to a file opened O_APPEND: once ``append``
returns, the line is in the kernel and survives a kill -9 of the process.  For power loss, the
log is fsync'd at most ``fsync_interval`` seconds apart (default 0.5 s) and on close; set it to 0
to fsync every conversation (about 4 ms each on this machine's disk).
A kill -9 at any moment can leave at most a half-written last line.  The next writer (or a
reader that finds no writer holding the run) moves it to quarantine/ and reports it.  Readers
only ever read whole lines, so they never see a half-written record.  A file that does not start
with our header is someone else's: it is reported and never written to.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from tinydb import TinyDB

from synth.errors import StoreError
from synth.models import Conversation, RunSpec, Turn
from synth.private_files import FILE_MODE, private_dir, tighten, tighten_fd
from synth.dataset.catalog_file import AtomicJSONStorage, Query
from synth.dataset.runlog import (
    CONV_FILE, ConversationWriter, ends_with_newline, iter_records, repair_tail, try_lock,
)
from synth.dataset.runindex import Entry, RunIndex, in_memory, index_log, read_record
from synth.library.yamlio import atomic_write_text


@dataclass
class RunInfo:
    run_id: str
    persona: str
    topics: str
    endpoint: str
    model: str
    created_at: float
    per_topic: int
    total: int  # conversations the run should hold
    done: int = 0  # complete conversations stored
    partial: int = 0
    problems: list[str] = field(default_factory=list)  # notes: set-aside tails, skipped lines
    errors: list[str] = field(default_factory=list)  # the run's files can't be read at all
    counted: bool = True  # False: done and partial were not read (``list_runs(counted_under=)``)


@dataclass
class ReviewRecord:
    conversation_id: str
    decision: str | None  # "accepted", "rejected" or None (undecided)
    edited_turns: list[Turn] | None = None
    note: str = ""
    updated_at: float = 0.0

    @property
    def edited(self) -> bool:
        return self.edited_turns is not None


@dataclass
class LoadResult:
    conversations: list[Conversation]
    problems: list[str]


# -- the store -----------------------------------------------------------------------------------

class Store:
    def __init__(self, runs_dir: Path, *, fsync_interval: float = 0.5) -> None:
        self.runs_dir = Path(runs_dir)
        self.fsync_interval = fsync_interval

    # paths
    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def conversations_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / CONV_FILE

    def spec_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "spec.json"

    @property
    def catalog_path(self) -> Path:
        return self.runs_dir / "catalog.json"

    # catalog
    @contextlib.contextmanager
    def catalog(self) -> Iterator[TinyDB]:
        private_dir(self.runs_dir)
        lock = os.open(self.runs_dir / "catalog.lock", os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            tighten_fd(lock)
            fcntl.flock(lock, fcntl.LOCK_EX)
            tighten(self.catalog_path, FILE_MODE)
            from tinydb import TinyDB

            db = TinyDB(str(self.catalog_path), storage=AtomicJSONStorage)
            try:
                yield db
            finally:
                db.close()
        finally:
            os.close(lock)

    # runs
    def _identities(self) -> list[tuple[str, dict[str, Any]]]:
        """(run id, identity) of every readable run, oldest first.  A run written before
        work-item ids has its identity computed again from its spec.json."""
        out = []
        for run_id in self.run_ids():
            try:
                data = self._read_spec_json(run_id)
                out.append((run_id, RunSpec.from_dict(data).identity()))
            except (StoreError, KeyError, TypeError, ValueError):
                continue  # an unreadable run is reported where it is listed, not matched
        return out

    def bind(self, spec: RunSpec) -> str:
        """The run ``spec`` continues: its own id, or an older run with the same identity whose
        id was made another way (one written before work-item ids; the newest if several).
        Sets ``spec.run_ref`` and returns the run id."""
        spec.run_ref = None
        own = spec.run_id
        if not self.spec_path(own).exists():
            key = spec.identity()
            same = [rid for rid, ident in self._identities() if ident == key]
            if same:
                spec.run_ref = same[-1]
        return spec.run_id

    def changed_since(self, spec: RunSpec) -> str | None:
        """When ``spec`` starts a new run although a run of the same persona and topic source
        exists: "persona changed since run X: a new run" (naming what changed)."""
        if self.spec_path(self.bind(spec)).exists():
            return None
        key = spec.identity()
        near = [(rid, ident) for rid, ident in self._identities()
                if ident["persona"] == key["persona"] and ident["topics"] == key["topics"]]
        if not near:
            return None
        rid, ident = near[-1]
        what = [k for k in key if k != "scheme" and ident.get(k) != key[k]]
        label = {"persona_pattern": "persona changed", "max_tokens": "max tokens changed",
                 "stop": "stop sequences changed"}
        said = [label.get(k, f"{k} changed") for k in what]
        return f"{', '.join(said)} since run {rid}: a new run"

    def open_run(self, spec: RunSpec) -> str:
        """Record a run (idempotent: the same spec again is the same run).  Returns its id.
        The spec's topic list and per_topic are kept as they are at this start: a run's items
        are computed from the topic source as it is now."""
        run_id = self.bind(spec)
        d = self.run_dir(run_id)
        private_dir(self.runs_dir)
        private_dir(d)
        record = spec.to_dict()
        sp = self.spec_path(run_id)
        total = len(spec.topics.topics) * spec.per_topic
        if sp.exists():
            old = self._read_spec_json(run_id)
            if old.get("run_id") != run_id:
                raise StoreError("spec.json belongs to another run; it was left as it is", path=sp)
            # what may change between starts (how to run, the list, the persona's export-only
            # fields); a run written before work-item ids keeps its own identity fields
            keys = ("concurrency", "rpm", "tpm", "budget", "limit", "per_topic", "topic_source",
                    "persona_snapshot")
            if any(old.get(k) != record.get(k) for k in keys):
                old.update({k: record[k] for k in keys})
                atomic_write_text(sp, json.dumps(old, ensure_ascii=False, indent=1), mode=FILE_MODE)
            tighten(sp, FILE_MODE)
        else:
            atomic_write_text(sp, json.dumps(record, ensure_ascii=False, indent=1), mode=FILE_MODE)
        with self.catalog() as db:
            runs = db.table("runs")
            if not runs.search(Query().run_id == run_id):
                runs.insert({
                    "run_id": run_id,
                    "persona": spec.persona.id,
                    "topics": spec.topics.id,
                    "endpoint": spec.endpoint,
                    "model": spec.model,
                    "per_topic": spec.per_topic,
                    "total": total,
                    "created_at": time.time(),
                })
            else:
                runs.update({"per_topic": spec.per_topic, "total": total},
                            Query().run_id == run_id)
        return run_id

    def _read_spec_json(self, run_id: str) -> dict[str, Any]:
        sp = self.spec_path(run_id)
        try:
            return json.loads(sp.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(f"no run {run_id!r} in {self.runs_dir}", field="run") from None
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise StoreError(f"unreadable spec ({type(exc).__name__}); it was left as it is", path=sp,
                             line=getattr(exc, "lineno", None)) from None

    def get_spec(self, run_id: str) -> RunSpec:
        data = self._read_spec_json(run_id)
        try:
            return RunSpec.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"spec is missing or has a bad field ({exc})",
                             path=self.spec_path(run_id)) from None

    def run_ids(self) -> list[str]:
        with self.catalog() as db:
            rows = db.table("runs").all()
        return [r["run_id"] for r in sorted(rows, key=lambda r: r.get("created_at", 0))]

    def resolve_run(self, ref: str) -> str:
        """A run id from an id, a unique id prefix, or ``latest``."""
        ids = self.run_ids()
        if not ids:
            raise StoreError(f"no runs yet in {self.runs_dir}; start one with `chatsynth run`",
                             field="run")
        if ref == "latest":
            return ids[-1]
        hits = [i for i in ids if i.startswith(ref)]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise StoreError(f"no run {ref!r} (have: {', '.join(ids[-5:])})", field="run")
        raise StoreError(f"{ref!r} matches {len(hits)} runs; give more of the id", field="run")

    def list_runs(self, counted_under: int | None = None) -> list[RunInfo]:
        """Every run, oldest first, with its counts from its index.  With ``counted_under``, a
        run whose log is bigger than that many bytes and not indexed in this process yet is
        listed uncounted (``counted=False``): a screen lists it at once and counts in a thread."""
        with self.catalog() as db:
            rows = db.table("runs").all()
        out = []
        for r in sorted(rows, key=lambda r: r.get("created_at", 0)):
            info = RunInfo(run_id=r["run_id"], persona=r.get("persona", "?"),
                           topics=r.get("topics", "?"), endpoint=r.get("endpoint", "?"),
                           model=r.get("model", ""), created_at=r.get("created_at", 0.0),
                           per_topic=r.get("per_topic", 1), total=r.get("total", 0))
            path = self.conversations_path(info.run_id)
            if counted_under is not None and not in_memory(path):
                try:
                    big = path.stat().st_size > counted_under
                except OSError:
                    big = False
                if big:
                    info.counted = False
                    out.append(info)
                    continue
            try:
                info.done, info.partial, problems = self._counts(info.run_id)
            except StoreError as err:
                info.errors.append(str(err))
            else:
                info.problems += problems
            out.append(info)
        return out

    def _counts(self, run_id: str) -> tuple[int, int, list[str]]:
        """(complete, partial, problems) of a run, from its index (``synth.dataset.runindex``):
        listing runs is what every screen of the app does, and a run may hold 100,000."""
        idx = self.index(run_id)
        return (*idx.counts(), list(idx.problems))

    def index(self, run_id: str) -> RunIndex:
        """Offsets, topics and statuses of the stored conversations, no bodies.  A torn last
        line is set aside first, as ``load`` does (listing runs reports it and quarantines it)."""
        problems = self._set_aside_torn_tail(run_id)
        idx = index_log(self.conversations_path(run_id), run_id)
        idx.problems[:0] = [p for p in problems if p not in idx.problems]
        return idx

    def _set_aside_torn_tail(self, run_id: str) -> list[str]:
        """When the log ends in a half-written line and no writer holds the run, move that line
        to quarantine/ now (a writer that holds it does so itself when it next opens)."""
        path = self.conversations_path(run_id)
        if not (path.exists() and path.stat().st_size and not ends_with_newline(path)):
            return []
        lock = try_lock(path.parent / "writer.lock")
        if lock is None:
            return []
        try:
            return repair_tail(path, run_id)
        finally:
            os.close(lock)

    def read_conversation(self, run_id: str, entry: Entry) -> Conversation:
        """One conversation's body, read at its indexed offset."""
        try:
            return Conversation.from_dict(read_record(self.conversations_path(run_id), entry))
        except (TypeError, KeyError, ValueError, OSError) as exc:
            raise StoreError(f"record can't be read ({exc})", path=self.conversations_path(run_id),
                             line=entry.line) from None

    # conversations
    def writer(self, run_id: str) -> ConversationWriter:
        return ConversationWriter(self, run_id).open()

    def iter_records(self, run_id: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
        """(line number, record or None, problem or None) for each whole line after the header."""
        return iter_records(self.conversations_path(run_id), run_id)

    def load(self, run_id: str) -> LoadResult:
        """Every stored conversation of a run: the latest record per id, complete beats partial."""
        problems = self._set_aside_torn_tail(run_id)
        path = self.conversations_path(run_id)
        by_id: dict[str, Conversation] = {}
        for n, rec, problem in self.iter_records(run_id):
            if problem:
                problems.append(problem)
                continue
            try:
                conv = Conversation.from_dict(rec)  # type: ignore[arg-type]
            except (TypeError, KeyError, ValueError) as exc:
                problems.append(f"{path}:{n}: record does not fit this version ({exc})")
                continue
            old = by_id.get(conv.id)
            if old is None or not (old.status == "complete" and conv.status == "partial"):
                by_id[conv.id] = conv
        return LoadResult(list(by_id.values()), problems)

    def finished_ids(self, run_id: str) -> set[str]:
        return {c.id for c in self.load(run_id).conversations if c.status == "complete"}

    # reviews and run metadata
    def set_review(self, run_id: str, conversation_id: str, decision: str | None,
                   edited_turns: list[Turn] | None = None, note: str = "",
                   keep_edit: bool = True) -> ReviewRecord:
        if decision not in (None, "accepted", "rejected"):
            raise StoreError(f"decision must be accepted, rejected or none, not {decision!r}",
                             field="decision")
        q = Query()
        with self.catalog() as db:
            table = db.table("reviews")
            cond = (q.run_id == run_id) & (q.conversation_id == conversation_id)
            old = table.get(cond)
            turns = [t.to_dict() for t in edited_turns] if edited_turns is not None else None
            if turns is None and keep_edit and old:
                turns = old.get("edited_turns")
            doc = {"run_id": run_id, "conversation_id": conversation_id, "decision": decision,
                   "edited_turns": turns, "note": note or (old or {}).get("note", ""),
                   "updated_at": time.time()}
            table.upsert(doc, cond)
        return _review(doc)

    def set_reviews(self, run_id: str, decisions: dict[str, str | None]) -> None:
        """Many decisions in one catalog write (bulk accept)."""
        q = Query()
        now = time.time()
        with self.catalog() as db:
            table = db.table("reviews")
            existing = {r["conversation_id"]: dict(r) for r in table.search(q.run_id == run_id)}
            new_docs = []
            for cid, decision in decisions.items():
                if cid in existing:
                    existing[cid]["decision"] = decision
                    existing[cid]["updated_at"] = now
                else:
                    new_docs.append({"run_id": run_id, "conversation_id": cid, "decision": decision,
                                     "edited_turns": None, "note": "", "updated_at": now})
            table.remove(q.run_id == run_id)
            table.insert_multiple(list(existing.values()) + new_docs)

    def reviews(self, run_id: str) -> dict[str, ReviewRecord]:
        with self.catalog() as db:
            rows = db.table("reviews").search(Query().run_id == run_id)
        return {r["conversation_id"]: _review(r) for r in rows}

    def set_run_meta(self, run_id: str, **values: Any) -> dict[str, Any]:
        q = Query()
        with self.catalog() as db:
            table = db.table("meta")
            doc = table.get(q.run_id == run_id) or {"run_id": run_id}
            doc = dict(doc)
            doc.update(values)
            table.upsert(doc, q.run_id == run_id)
        return {k: v for k, v in doc.items() if k != "run_id"}

    def run_meta(self, run_id: str) -> dict[str, Any]:
        with self.catalog() as db:
            doc = db.table("meta").get(Query().run_id == run_id) or {}
        return {k: v for k, v in dict(doc).items() if k != "run_id"}


def _review(doc: dict[str, Any]) -> ReviewRecord:
    turns = doc.get("edited_turns")
    return ReviewRecord(conversation_id=doc["conversation_id"], decision=doc.get("decision"),
                        edited_turns=[Turn(**t) for t in turns] if turns is not None else None,
                        note=doc.get("note", ""), updated_at=doc.get("updated_at", 0.0))
