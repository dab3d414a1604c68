"""A run's missing work items as OpenAI batch-format request files (``chatsynth batch prepare``).

Each line is ``{"custom_id": <conversation id>, "method": "POST", "url": "/v1/chat/completions"
or "/v1/completions", "body": {...}}`` where the body is what the streaming engine would send
for that conversation, without ``stream`` and ``stream_options``.  The lines are split into
parts within the provider's limits (requests and bytes per file; OpenAI's by default) and, with
``shards``, into that many groups of parts for as many machines (``vllm run-batch`` reads the
same format).  ``manifest.json`` beside the parts says what was prepared, for which persona.

The files live in ``runs/<run id>/batch/``; what was submitted is recorded in the run's catalog
entry (``synth.generate.batch_api``), never in these files.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from synth.errors import ChatsynthError
from synth.generate.endpoints import Endpoint, request_params
from synth.generate.planner import plan
from synth.generate.prompts import render
from synth.library.yamlio import atomic_write_text
from synth.models import RunSpec, WorkItem, stable_id
from synth.private_files import FILE_MODE, private_dir, write_private

MAX_REQUESTS = 50_000  # OpenAI: requests per batch input file
MAX_BYTES = 200 * 1024 * 1024  # OpenAI: bytes per batch input file
MANIFEST = "manifest.json"


class BatchError(ChatsynthError):
    """A batch job that can't go on as asked (the message says what to do)."""


def url_for(style: str) -> str:
    return "/v1/chat/completions" if style == "chat" else "/v1/completions"


def persona_key(spec: RunSpec) -> str:
    """What a run's requests depend on in its persona: a change makes earlier parts stale."""
    return stable_id(spec.persona.pattern())


def request_body(ep: Endpoint, spec: RunSpec, item: WorkItem) -> dict[str, Any]:
    """The body the streaming engine sends for ``item``, without streaming."""
    prompt = render(spec.persona, item.topic, spec.style, item.conversation_id)
    kw = request_params(ep, spec.max_tokens, spec.temperature, spec.stop,
                         None if spec.seed is None else spec.seed + item.k, spec.sampling())
    kw.pop("stream", None)
    kw.pop("stream_options", None)
    kw.update(kw.pop("extra_body", {}))  # the SDK's extra fields are plain body fields here
    if spec.style == "chat":
        body = {"model": kw.pop("model"),
                "messages": prompt.messages or [{"role": "user", "content": prompt.text}]}
    else:
        body = {"model": kw.pop("model"), "prompt": prompt.text}
    body.update(kw)
    return body


def request_line(ep: Endpoint, spec: RunSpec, item: WorkItem) -> bytes:
    line = {"custom_id": item.conversation_id, "method": "POST", "url": url_for(spec.style),
            "body": request_body(ep, spec, item)}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


@dataclass
class Part:
    file: str  # name inside the batch folder
    shard: int
    requests: int
    bytes: int
    ids: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "shard": self.shard, "requests": self.requests,
                "bytes": self.bytes}


@dataclass
class Prepared:
    run_id: str
    folder: Path
    parts: list[Part]
    items: int
    already_done: int
    total: int


def batch_dir(store: Any, run_id: str) -> Path:
    return Path(store.run_dir(run_id)) / "batch"


def split(lines: Iterable[tuple[str, bytes]], *, max_requests: int, max_bytes: int
          ) -> list[list[tuple[str, bytes]]]:
    """Groups of (custom_id, line) within both limits; a line alone over the bytes is refused."""
    groups: list[list[tuple[str, bytes]]] = []
    cur: list[tuple[str, bytes]] = []
    size = 0
    for cid, line in lines:
        if len(line) > max_bytes:
            raise BatchError(f"the request for conversation {cid} is {len(line):,} bytes, over "
                             f"the limit of {max_bytes:,} bytes per file; raise --max-bytes or "
                             "shorten its topic's context", field="max_bytes")
        if cur and (len(cur) >= max_requests or size + len(line) > max_bytes):
            groups.append(cur)
            cur, size = [], 0
        cur.append((cid, line))
        size += len(line)
    if cur:
        groups.append(cur)
    return groups


def prepare(store: Any, spec: RunSpec, ep: Endpoint, *, shards: int = 1,
            max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES,
            only: set[str] | None = None, prefix: str = "part") -> Prepared:
    """Write the run's missing items (or just ``only``) as request parts and the manifest."""
    if shards < 1 or max_requests < 1 or max_bytes < 1:
        raise BatchError("--shards, --max-requests and --max-bytes must be at least 1")
    run_id = store.open_run(spec) or spec.run_id
    done = store.finished_ids(run_id)
    p = plan(spec, done)
    todo = p.todo if only is None else [it for it in p.items if it.conversation_id in only]
    folder = private_dir(batch_dir(store, run_id))
    for old in folder.glob(f"{prefix}-*.jsonl"):
        old.unlink()  # an earlier prepare's parts: what is missing now replaces them
    parts: list[Part] = []
    n = len(todo)
    shards = max(1, min(shards, n)) if n else 1
    bounds = [(i * n // shards, (i + 1) * n // shards) for i in range(shards)]
    for s, (a, b) in enumerate(bounds, 1):
        lines = ((it.conversation_id, request_line(ep, spec, it)) for it in todo[a:b])
        for group in split(lines, max_requests=max_requests, max_bytes=max_bytes):
            name = f"{prefix}-{len(parts) + 1:04d}.jsonl"
            data = b"".join(line for _, line in group)
            write_private(folder / name, data)
            parts.append(Part(file=name, shard=s, requests=len(group), bytes=len(data),
                              ids=[cid for cid, _ in group]))
    manifest = {"run_id": run_id, "url": url_for(spec.style), "endpoint": spec.endpoint,
                "model": spec.model, "persona": spec.persona.id, "persona_key": persona_key(spec),
                "created_at": time.time(), "shards": shards,
                "limits": {"requests": max_requests, "bytes": max_bytes},
                "items": n, "already_done": p.already_done, "total": p.total,
                "parts": [pt.to_dict() for pt in parts]}
    atomic_write_text(folder / f"{prefix}-{MANIFEST}" if prefix != "part" else folder / MANIFEST,
                      json.dumps(manifest, indent=1), mode=FILE_MODE)
    return Prepared(run_id=run_id, folder=folder, parts=parts, items=n,
                    already_done=p.already_done, total=p.total)


def read_manifest(store: Any, run_id: str, prefix: str = "part") -> dict[str, Any]:
    folder = batch_dir(store, run_id)
    path = folder / (MANIFEST if prefix == "part" else f"{prefix}-{MANIFEST}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BatchError(f"run {run_id} has no prepared batch; run `chatsynth batch prepare` "
                         "first", field="run") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BatchError(f"the manifest is not readable JSON ({type(exc).__name__}); prepare "
                         "again", path=path, line=getattr(exc, "lineno", None)) from None
    if not isinstance(data, dict) or not isinstance(data.get("parts"), list):
        raise BatchError("not a chatsynth batch manifest; prepare again", path=path, line=1)
    return data

