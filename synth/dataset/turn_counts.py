"""Token counts of each conversation's turns, made in threads a batch at a time as the export's
first pass checks the conversations, so that the second pass builds, checks and writes without
tokenizing again.  The first pass waits for each batch: tiktoken releases the GIL for each
text, and a thread that wants it back while the filters' Python holds it waits a switch
interval (5 ms) for it, so tokenizing beside the filters counted a text or two per interval
and cost the filters a hand-over each time; waiting, the threads have the GIL to themselves.

``chat_count`` turns a conversation's per-turn counts into the ``ChatCount`` that
``TokenCounter.chat_counts`` gives its chat (or ShareGPT) example: the same numbers, the
cookbook's arithmetic done on counts already made.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Sequence

from synth.models import Turn
from synth.tokens import REPLY_PRIMING, TOKENS_PER_MESSAGE, ChatCount

BATCH = 8000  # texts handed to the threads at a time
MAX_PENDING = 0  # batches handed over and not yet counted, at most (see above)


class TurnCounts:
    """Per-turn token counts (of the stripped text, as exported), by conversation id."""

    def __init__(self, counter: Any) -> None:
        self.counter = counter
        self.pool = ThreadPoolExecutor(max(1, counter.threads))
        self._ids: list[str] = []
        self._sizes: list[int] = []
        self._texts: list[str] = []
        self._pending: list[tuple[list[str], list[int], list[Future]]] = []
        self.counts: dict[str, tuple[int, ...]] = {}

    def add(self, cid: str, turns: Sequence[Turn]) -> None:
        self._ids.append(cid)
        self._sizes.append(len(turns))
        self._texts += [t.text.strip() for t in turns]
        if len(self._texts) >= BATCH:
            self._submit()

    def _submit(self) -> None:
        if not self._ids:
            return
        enc = self.counter.enc.encode_ordinary

        def lens(chunk: list[str]) -> list[int]:
            return [len(enc(t)) for t in chunk]

        texts, n = self._texts, max(1, self.counter.threads)
        size = -(-len(texts) // n) or 1
        futures = [self.pool.submit(lens, texts[i:i + size]) for i in range(0, len(texts), size)]
        self._pending.append((self._ids, self._sizes, futures))
        self._ids, self._sizes, self._texts = [], [], []
        while len(self._pending) > MAX_PENDING:  # the threads fell behind: texts wait bounded
            self._collect(self._pending.pop(0))

    def _collect(self, batch: tuple[list[str], list[int], list[Future]]) -> None:
        ids, sizes, futures = batch
        lens = [n for f in futures for n in f.result()]
        pos = 0
        for cid, k in zip(ids, sizes):
            self.counts[cid] = tuple(lens[pos:pos + k])
            pos += k

    def finish(self) -> None:
        """Wait for every count (after the last ``add``)."""
        self._submit()
        for batch in self._pending:
            self._collect(batch)
        self._pending = []

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def chat_count(self, cid: str, turns: Sequence[Turn], system: str | None) -> ChatCount | None:
        """The chat count of the example of these turns (with this system prompt), or None
        where its turns were not counted (then the export counts the example itself)."""
        lens = self.counts.get(cid)
        if lens is None or len(lens) != len(turns):
            return None
        small = self.counter._small_count
        total = REPLY_PRIMING
        messages = len(turns)
        if system:
            total += TOKENS_PER_MESSAGE + small("system") + small(system)
            messages += 1
        assistant = 0
        for t, n in zip(turns, lens):
            total += TOKENS_PER_MESSAGE + small(t.role) + n
            if t.role == "assistant":
                assistant += n
        return ChatCount(total=total, assistant=assistant, messages=messages, turns=sum(lens))


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``; nothing
    elsewhere).  tiktoken's Rust side allocates in each counting thread's own malloc arena;
    when the threads truly run side by side (a quiet machine) glibc opens more arenas, and what
    they freed stays resident: trimmed once the first pass is done, before the second grows."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass
