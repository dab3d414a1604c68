"""What the engine does for one conversation: wait for its turn (pause, cooldown, rate limits,
budget), stream it, and then store and count it, or fail, discard or cut it off.

A mixin of ``synth.generate.engine.Engine`` (which holds the state these methods use); split out so
that each module stays readable.  ``_Live`` is one conversation being written.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from synth.generate import transcript
from synth.generate.assemble import build_conversation
from synth.generate.endpoints import FatalError, StreamEnd, TransientError, estimate_tokens, \
    stream_completion
from synth.errors import ChatsynthError
from synth.generate.events import (
    Chunk, ConversationFailed, ConversationFinished, ConversationRetrying, ConversationStarted,
    RunPaused,
)
from synth.models import Conversation, Usage, WorkItem
from synth.generate.prompts import Prompt, render
from synth.wording import plural


class _Budget(Exception):
    pass


@dataclass
class _Live:
    item: WorkItem
    prompt: Prompt
    cid: str = ""  # item.conversation_id, worked out once
    attempt: int = 0  # shown to the user: goes on across retries
    tries: int = 0  # this task's tries, for the backoff's limit
    # the text so far, as the pieces that came (joining on every chunk would be quadratic)
    parts: list[str] = field(default_factory=list)
    chars: int = 0  # len of the text so far
    streaming: bool = False
    started: float = 0.0
    reserved: float = 0.0
    discard: bool = False
    stored: bool = False  # in the store: a cancel now must not add a partial record
    retry: bool = False  # cut off to be written again: store nothing, count nothing
    rp: Any = None  # a role-play conversation's turns so far (synth.generate.roleplay)

    @property
    def raw(self) -> str:
        """The text so far (joined when asked: at the end, on a cancel, for progress)."""
        parts = self.parts
        if len(parts) > 1:
            parts[:] = ["".join(parts)]
        return parts[0] if parts else ""

    def clear(self) -> None:
        self.parts = []
        self.chars = 0
        self.streaming = False


@dataclass
class TurnRequest:
    """One request of a conversation written turn by turn (role-play): what ``_stream`` sends
    in place of the conversation's own prompt."""

    prompt: Prompt
    stops: list[str]
    endpoint: Any
    max_tokens: int


class ConversationWork:
    """The per-conversation half of the engine (see the module's first lines)."""

    async def _gate(self, live: _Live, req: TurnRequest | None = None) -> None:
        """Wait for: not paused, no cooldown, RPM/TPM room, budget room (``req``: one turn of a
        role-play conversation; its reservation adds to the conversation's)."""
        spec = self.spec
        while True:
            if self._outcome:
                raise asyncio.CancelledError()
            if not self._unpaused.is_set():
                await self._unpaused.wait()
                continue
            if self._cooldown.until > time.monotonic():
                await self._cooldown.wait()
                continue
            break
        text = (req or live).prompt.text
        max_tokens = req.max_tokens if req else spec.max_tokens
        ptok = estimate_tokens(text)
        if spec.budget is not None:
            # conservative: at least a token per 3 characters of prompt (more where the server
            # has reported more), and every output token the request allows
            worst_p = int(len(text) * self._tokens_per_char) + 1
            worst = self._price(max(ptok, worst_p), max_tokens) or 0.0
            if self._cost + self._reserved + worst > spec.budget + 1e-12:
                self._budget_hit = True
                self._reason = (f"stopped before the budget of ${spec.budget:.4f} would be "
                                f"exceeded (spent ${self._cost:.4f})")
                raise _Budget()
            live.reserved += worst
            self._reserved += worst
        if self._rpm:
            await self._rpm.acquire(1)
        if self._tpm:
            await self._tpm.acquire(ptok + max_tokens)
        if self._outcome:
            raise asyncio.CancelledError()

    def _release(self, live: _Live) -> None:
        self._reserved -= live.reserved
        live.reserved = 0.0

    async def _conversation(self, item: WorkItem) -> None:
        spec = self.spec
        cid = item.conversation_id
        live = _Live(item=item, prompt=render(spec.persona, item.topic, spec.style,
                                            item.conversation_id), cid=cid,
                     attempt=self._attempts.get(cid, 0))
        self._live[cid] = live
        bo = self.opt.backoff
        try:
            while True:
                live.attempt += 1
                live.tries += 1
                self._attempts[cid] = live.attempt
                live.clear()
                try:
                    await self._gate(live)
                except _Budget:
                    return
                self._emit(ConversationStarted(run_id=self.run_id, conversation_id=cid,
                                               topic=item.topic.text, k=item.k,
                                               attempt=live.attempt))
                self._dirty = True
                try:
                    end = await (self._roleplay(live) if spec.method == "roleplay"
                                 else self._stream(live))
                except FatalError as err:
                    self._release(live)
                    self._fail(item, err.message)
                    self._stop("stopped", f"the endpoint refused the request: {err.message}")
                    return
                except TransientError as err:
                    self._release(live)
                    live.clear()
                    reason = err.message
                    if err.retry_after:
                        self._cooldown.hold(err.retry_after)
                    if self._storm.failure(reason):
                        self._storm_pause(reason)
                        if self._outcome:
                            return
                    if live.tries >= bo.max_attempts:
                        self._fail(item, f"gave up after {plural(live.tries, 'attempt')}: {reason}")
                        return
                    wait = bo.delay(live.tries, err.retry_after)
                    self._emit(ConversationRetrying(conversation_id=cid, attempt=live.attempt + 1,
                                                    wait_s=wait, reason=reason))
                    await asyncio.sleep(wait)
                    continue
                self._storm.success()
                try:
                    # the request is over: its slot goes to the next one while this is stored
                    self._slot_free.add(cid)
                    self._wake.set()
                    await self._finish(live, end)  # releases the budget reservation when counted
                except (OSError, ChatsynthError) as exc:  # disk full, lost lock: can't go on
                    live.stored = True  # nothing more to store for it
                    self._fail(item, f"could not be stored: {exc}")
                    self._stop("stopped", f"the store failed: {exc}")
                return
        except asyncio.CancelledError:
            self._release(live)
            self._cancelled(live)

    async def _stream(self, live: _Live, req: TurnRequest | None = None) -> StreamEnd:
        """Ask for the conversation (or, ``req``, one turn of it) and take its text in: the stop
        search looks only at the new piece and the few characters before it, and chunks for
        the UI are merged."""
        spec = self.spec
        cid = live.cid
        if req is None:
            live.started = time.monotonic()
        prompt = (req or live).prompt
        stops = req.stops if req else self._stops
        keep = max((len(s) for s in stops), default=1) - 1  # a stop may start this far back
        emit_chunks = self.opt.emit_chunks
        interval = self.opt.chunk_interval_s
        streamed = self.opt.stream
        parts = live.parts
        pending: list[str] = []  # text not yet sent as a Chunk
        last_flush = 0.0
        end: StreamEnd | None = None
        hit_stop = False
        tail = ""  # the last `keep` characters before the new piece
        if not streamed:
            live.streaming = True  # in flight: the whole answer comes at the end
        gen = stream_completion(
            req.endpoint if req else self.endpoint, prompt=prompt.text,
            messages=prompt.messages or None, style=prompt.style,
            max_tokens=req.max_tokens if req else spec.max_tokens, temperature=spec.temperature,
            stop=stops, stream=streamed,
            # the k-th conversation of a topic gets its own seed, or all k would be the same
            seed=None if spec.seed is None else spec.seed + live.item.k,
            sampling=spec.sampling())
        try:
            async for piece in gen:
                if piece.__class__ is StreamEnd:
                    end = piece  # type: ignore[assignment]
                    break
                live.streaming = True
                parts.append(piece)  # type: ignore[arg-type]
                live.chars += len(piece)  # type: ignore[arg-type]
                if emit_chunks:
                    pending.append(piece)  # type: ignore[arg-type]
                if stops:
                    window = tail + piece  # type: ignore[operator]
                    hit = transcript.find_stop(window, stops)
                    if hit is not None:
                        if emit_chunks:
                            # what was not yet sent, up to the stop (which may have begun in
                            # text already sent: then nothing more goes out)
                            unsent = "".join(pending)
                            upto = len(unsent) - (len(window) - hit[0])
                            if upto > 0:
                                self._emit(Chunk(conversation_id=cid, text=unsent[:upto]))
                        end = StreamEnd(finish_reason="stop", usage=None)
                        hit_stop = True
                        break
                    tail = window[-keep:] if keep else ""
                if emit_chunks:
                    now = time.monotonic()
                    if now - last_flush >= interval:
                        self._emit(Chunk(conversation_id=cid, text="".join(pending)))
                        pending.clear()
                        last_flush = now
        finally:
            await gen.aclose()
        if end is None:  # pragma: no cover - stream_completion always ends with StreamEnd
            raise TransientError("the stream ended without a finish")
        if emit_chunks and not hit_stop and pending:
            self._emit(Chunk(conversation_id=cid, text="".join(pending)))
        return end

    def _build(self, live: _Live, *, status: str, finish: str | None,
               usage: Usage | None) -> Conversation:
        return build_conversation(
            run_id=self.run_id, spec=self.spec, item=live.item, prompt=live.prompt, raw=live.raw,
            model=self.endpoint.model, request_stop=self.endpoint.request_stops(self.spec.stop),
            stops=self._stops, speakers=self._speakers, status=status, finish=finish,
            usage=usage, attempts=live.attempt, duration_s=time.monotonic() - live.started,
            price=self._price, extra_params=self._sampling_params(live))

    def _sampling_params(self, live: _Live) -> dict:
        """The optional sampling values, examples shown, and values the endpoint refused."""
        out: dict = dict(self.spec.sampling())
        if live.prompt.examples:
            out["examples"] = list(live.prompt.examples)
        refused = sorted(self.endpoint.dropped & set(out))
        if refused:
            out["sent_without"] = refused
        return out

    async def _finish(self, live: _Live, end: StreamEnd) -> None:
        conv = self._build(live, status="complete", finish=end.finish_reason, usage=end.usage)
        if self._verdict is not None:
            try:
                self.verdicts[conv.id] = self._verdict(conv, self.spec.persona)
            except Exception:  # noqa: BLE001 - a filter bug must not lose a conversation
                pass
        # One write() on the loop (tens of microseconds, and nothing to await, so no cancel can
        # come between storing and the event); the periodic fsync goes to the store thread, so
        # the loop never waits on the disk.  Handing every append to the thread cost about 7%
        # of throughput in GIL hand-offs (bench_engine, unpaced).
        try:
            if self._sync is not None and self._sync.done() and self._sync.exception():
                raise self._sync.exception()  # the last fsync failed: the disk is in trouble
            self._writer.append(conv, sync=False)
        except BaseException:
            self._release(live)
            raise
        live.stored = True
        if self._writer.sync_due() and (self._sync is None or self._sync.done()):
            self._sync = asyncio.get_running_loop().run_in_executor(self._io, self._writer.sync)
        self._finished(live, conv, end)

    def _finished(self, live: _Live, conv: Conversation, end: StreamEnd) -> None:
        # count the cost before freeing the reservation: no moment where neither holds it
        self._account(conv)
        self._release(live)
        if conv.id not in self._before and conv.id not in self._done_ids:
            self._done += 1  # written again: it was counted already
        self._done_ids.add(conv.id)
        self._failed_ids.discard(conv.id)
        self._final.add(conv.id)
        self._emit(ConversationFinished(conversation=conv, finish_reason=end.finish_reason,
                                        usage=conv.usage))

    def _account(self, conv: Conversation) -> None:
        if conv.usage.source == "server" and conv.prompt:
            self._tokens_per_char = max(self._tokens_per_char,
                                        conv.usage.prompt_tokens / len(conv.prompt))
        self._tally.add(conv)
        if conv.cost is None:
            self._cost_known = False
        else:
            self._cost += conv.cost
        self._dirty = True

    def _fail(self, item: WorkItem, reason: str, partial: bool = False, *,
              discarded: bool = False, usage: Usage | None = None) -> None:
        if discarded:
            self._discarded_ids.add(item.conversation_id)
        elif not partial:
            self._failed += 1
            self._failed_ids.add(item.conversation_id)
            self._last_failure = reason
        self._final.add(item.conversation_id)
        self._dirty = True
        self._emit(ConversationFailed(conversation_id=item.conversation_id, topic=item.topic.text,
                                      reason=reason, partial=partial, discarded=discarded,
                                      usage=usage))

    def _cancelled(self, live: _Live) -> None:
        item = live.item
        if live.stored:
            return
        if live.retry:  # retry() has queued it again: nothing to store or count
            self._dirty = True
            return
        if live.discard:
            self._fail(item, "discarded by the user", discarded=True)
            return
        if live.streaming and live.raw:
            conv = self._build(live, status="partial", finish="cancelled", usage=None)
            try:
                self._writer.append(conv)  # rare, small: done inline so a cancel can't lose it
            except Exception as exc:  # noqa: BLE001
                self._fail(item, f"cut off and could not be stored: {exc}")
                return
            self._account(conv)
            self._fail(item, f"cut off mid-stream ({self._reason or 'cancelled'}); kept as partial",
                       partial=True, usage=conv.usage)
        else:
            self._dirty = True

    def _storm_pause(self, reason: str) -> None:
        why = (f"every request is failing ({self._storm.consecutive} in a row, none succeeded "
               f"for {self.opt.storm_window_s:.0f}s); last error: {reason}")
        if self.opt.pause_ends_run:
            self._emit(RunPaused(reason=why))
            self._stop("paused", why)
        elif self.state == "running":
            self.pause(why)
