"""Token counts of each conversation's turns, made a batch at a time as the export's first pass
checks the conversations, so that the second pass builds, checks and writes without
tokenizing again.  A big run's batches are counted in a process of its own
(``token_worker``) while the pass goes on; a small run's (or where the process fails) in this
process's threads, the pass waiting for each batch: tiktoken releases the GIL for each text,
and a thread that wants it back while the filters' Python holds it waits a switch interval
(5 ms) for it, so tokenizing beside the filters counted a text or two per interval and cost
the filters a hand-over each time; waiting, the threads have the GIL to themselves.

``chat_count`` turns a conversation's per-turn counts into the ``ChatCount`` that
``TokenCounter.chat_counts`` gives its chat (or ShareGPT) example: the same numbers, the
cookbook's arithmetic done on counts already made.
"""

from __future__ import annotations

import ctypes
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Sequence

from synth.dataset.token_worker import Worker, WorkerGone
from synth.models import Turn
from synth.tokens import REPLY_PRIMING, TOKENS_PER_MESSAGE, ChatCount

BATCH = 8000  # texts handed to the threads (or the worker) at a time
MAX_PENDING = 0  # batches handed to the threads and not yet counted, at most (see above)
WORKER_FROM = 5  # full batches (about 5,000 conversations) before a run's counting moves to a
#                  worker process: starting one costs about half a second, which a smaller
#                  run does not win back
WORKER_AHEAD = 0  # batches the worker still holds when the next is sent: its answer is read
#                   first, so that an answer never waits in the pipe while a batch is written


class TurnCounts:
    """Per-turn token counts (of the stripped text, as exported), by conversation id.

    The ``WORKER_FROM``th batch that fills (a run of more than about 5,000 conversations) starts
    a counting process (``token_worker``): from then on a batch is handed to it and the pass goes
    on while it is counted, one batch ahead.  A smaller run, or one whose worker can't start or
    fails, counts in this process's threads, each batch while the pass waits (see above)."""

    def __init__(self, counter: Any, *, worker: bool = True) -> None:
        self.counter = counter
        self.pool = ThreadPoolExecutor(max(1, counter.threads))
        self._ids: list[str] = []
        self._sizes: list[int] = []
        self._texts: list[str] = []
        # (ids, sizes, texts, futures): futures None = sent to the worker
        self._pending: list[tuple[list[str], list[int], list[str], list[Future] | None]] = []
        self.counts: dict[str, tuple[int, ...]] = {}
        self._use_worker = worker
        self._full = 0  # full batches so far
        self._worker: Worker | None = None
        self.worker_used = False  # a worker process counted (some of) the batches
        self.worker_note: str | None = None  # why the worker was given up, if it was

    def add(self, cid: str, turns: Sequence[Turn]) -> None:
        self._ids.append(cid)
        self._sizes.append(len(turns))
        self._texts += [t.text.strip() for t in turns]
        if len(self._texts) >= BATCH:
            self._full += 1
            self._submit(full=self._full >= WORKER_FROM)

    def _submit(self, full: bool = False) -> None:
        if not self._ids:
            return
        texts = self._texts
        if self._use_worker and (full or self._worker is not None):
            try:
                if self._worker is None:
                    self._worker = Worker(self.counter.encoding_name, self.counter.threads)
                    self.worker_used = True
                while len(self._pending) > WORKER_AHEAD:  # before sending: see the module
                    self._collect(self._pending.pop(0))
                if self._worker is not None:  # (an answer that did not come gave it up)
                    self._worker.send(texts)
                    self._pending.append((self._ids, self._sizes, texts, None))
                    self._ids, self._sizes, self._texts = [], [], []
                    return
            except WorkerGone as exc:
                self._give_up_worker(str(exc))
        self._pending.append((self._ids, self._sizes, texts, self._count_in_threads(texts)))
        self._ids, self._sizes, self._texts = [], [], []
        while len(self._pending) > MAX_PENDING:  # the threads fell behind: texts wait bounded
            self._collect(self._pending.pop(0))

    def _count_in_threads(self, texts: list[str]) -> list[Future]:
        enc = self.counter.enc.encode_ordinary

        def lens(chunk: list[str]) -> list[int]:
            return [len(enc(t)) for t in chunk]

        n = max(1, self.counter.threads)
        size = -(-len(texts) // n) or 1
        return [self.pool.submit(lens, texts[i:i + size]) for i in range(0, len(texts), size)]

    def _give_up_worker(self, why: str) -> None:
        """Count what the worker had (and everything from now on) in threads."""
        self.worker_note = why
        self._use_worker = False
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        self._pending = [(ids, sizes, texts, self._count_in_threads(texts) if f is None else f)
                         for ids, sizes, texts, f in self._pending]

    def _collect(self, batch: tuple[list[str], list[int], list[str], list[Future] | None]) -> None:
        ids, sizes, texts, futures = batch
        if futures is None:
            try:
                assert self._worker is not None
                lens = self._worker.receive(len(texts))
            except WorkerGone as exc:
                self._pending.insert(0, batch)
                self._give_up_worker(str(exc))
                self._collect(self._pending.pop(0))
                return
        else:
            lens = [n for f in futures for n in f.result()]
        pos = 0
        for cid, k in zip(ids, sizes):
            self.counts[cid] = tuple(lens[pos:pos + k])
            pos += k

    def finish(self) -> None:
        """Wait for every count (after the last ``add``)."""
        self._submit()
        while self._pending:
            self._collect(self._pending.pop(0))

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self._worker is not None:
            self._worker.close()
            self._worker = None

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
    try:  # the process's own symbols (libc's among them): ctypes.util.find_library runs
        ctypes.CDLL(None).malloc_trim(0)  # ldconfig in a child process to find the file
    except (OSError, AttributeError):
        pass
