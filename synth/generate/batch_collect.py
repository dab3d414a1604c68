"""Answers in the OpenAI batch output format -> stored conversations, as a streamed run stores
them (``chatsynth batch collect``; also a file written by ``vllm run-batch``).

Each line is ``{"id", "custom_id", "response": {"status_code", "body"}, "error"}``.  An answer
goes through the same stop trimming and turn parsing (``synth.generate.assemble``), the caller's
verdict function and the store's append as a streamed conversation, under its conversation id:
one already stored (collected before, or written by the streaming engine) is skipped, so
nothing is stored twice.  A line that can't be used is reported as ``file:line: what`` and the
rest go on; failed requests are listed with the provider's error, to be sent again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from synth.generate import transcript
from synth.generate.assemble import build_conversation
from synth.generate.planner import all_items
from synth.generate.prompts import render
from synth.models import Persona, RunSpec, Usage


@dataclass
class Collected:
    stored: int = 0
    skipped: int = 0  # already in the store
    failed: dict[str, str] = field(default_factory=dict)  # conversation id -> why
    problems: list[str] = field(default_factory=list)  # file:line: what

    def merge(self, other: "Collected") -> None:
        self.stored += other.stored
        self.skipped += other.skipped
        self.failed.update(other.failed)
        self.problems += other.problems


def _lines(path: Path) -> Iterable[tuple[int, bytes, bool]]:
    """(line number, bytes, is the last line without its newline)."""
    with open(path, "rb") as fh:
        n = 0
        for raw in fh:
            n += 1
            yield n, raw, not raw.endswith(b"\n")


def _answer(body: Any, style: str) -> tuple[str | None, str | None, Usage | None, str]:
    """(text, finish reason, usage, what is wrong) of a completion body."""
    if not isinstance(body, dict):
        return None, None, None, "the response has no body"
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None, None, None, "the answer's body has no choices"
    c = choices[0]
    if style == "chat" or "message" in c:
        msg = c.get("message") if isinstance(c.get("message"), dict) else {}
        text = msg.get("content")
    else:
        text = c.get("text")
    if not isinstance(text, str):
        return None, None, None, "the answer's first choice has no text"
    u = body.get("usage")
    usage = None
    if isinstance(u, dict) and isinstance(u.get("completion_tokens"), int):
        usage = Usage(prompt_tokens=int(u.get("prompt_tokens") or 0),
                      completion_tokens=int(u["completion_tokens"]))
    return text, c.get("finish_reason"), usage, ""


def ingest(store: Any, spec: RunSpec, run_id: str, paths: list[Path], *, model: str,
           request_stop: list[str], price: Callable[[int, int], float | None],
           verdict: Callable[[Any, Persona], Any] | None = None,
           on_stored: Callable[[Any], None] | None = None) -> Collected:
    """Store every usable answer of ``paths`` that the run does not hold yet."""
    items = {it.conversation_id: it for it in all_items(spec)}
    done = store.finished_ids(run_id)
    stops = [s for s in spec.stop if s]
    speakers = transcript.Speakers.for_persona(spec.persona)
    seen: dict[str, str] = {}  # conversation id -> where its answer was first read
    res = Collected()
    writer = store.writer(run_id)
    try:
        for path in paths:
            for n, raw, last in _lines(Path(path)):
                where = f"{path}:{n}"
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    what = ("a truncated last line (the file was cut short?)" if last
                            else "not JSON")
                    res.problems.append(f"{where}: {what}; skipped")
                    continue
                cid = rec.get("custom_id") if isinstance(rec, dict) else None
                if not isinstance(cid, str):
                    res.problems.append(f"{where}: custom_id: missing; skipped")
                    continue
                item = items.get(cid)
                if item is None:
                    res.problems.append(f"{where}: custom_id: {cid!r} is not a conversation of "
                                        f"run {run_id}; skipped")
                    continue
                if cid in seen:
                    res.problems.append(f"{where}: custom_id: {cid} is duplicated (first at "
                                        f"{seen[cid]}); the later one skipped")
                    continue
                seen[cid] = where
                if cid in done:
                    res.skipped += 1
                    continue
                err = rec.get("error")
                resp = rec.get("response") if isinstance(rec.get("response"), dict) else {}
                status = resp.get("status_code")
                if err or (status is not None and status != 200):
                    msg = err.get("message") if isinstance(err, dict) else None
                    if not msg and isinstance(resp.get("body"), dict):
                        e2 = resp["body"].get("error")
                        msg = e2.get("message") if isinstance(e2, dict) else None
                    code = f"HTTP {status}: " if status else ""
                    res.failed[cid] = f"{where}: {code}{msg or err or 'failed'}"
                    continue
                text, finish, usage, wrong = _answer(resp.get("body"), spec.style)
                if text is None:
                    res.problems.append(f"{where}: response.body: {wrong}; skipped")
                    res.failed[cid] = f"{where}: {wrong}"
                    continue
                prompt = render(spec.persona, item.topic, spec.style, item.conversation_id)
                body = resp.get("body") or {}
                conv = build_conversation(
                    run_id=run_id, spec=spec, item=item, prompt=prompt, raw=text,
                    model=str(body.get("model") or model), request_stop=request_stop,
                    stops=stops, speakers=speakers, status="complete", finish=finish,
                    usage=usage, attempts=1, duration_s=0.0, price=price)
                if verdict is not None:
                    try:
                        verdict(conv, spec.persona)
                    except Exception:  # noqa: BLE001 - a filter bug must not lose an answer
                        pass
                writer.append(conv)  # one write: a kill -9 leaves it stored or not at all
                done.add(cid)
                res.stored += 1
                if on_stored is not None:
                    on_stored(conv)
    finally:
        writer.close()
    return res
