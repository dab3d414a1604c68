"""Read-ahead for the embedded model's streamed tokens (runs in the model server's process).

llama-cpp-python's server (pinned in pyproject) asks its worker thread for one chunk at a
time (Starlette's ``iterate_in_threadpool``): after each token the model waits while the event
loop encodes the chunk, sends it and hands the next request back to a thread.  That is about
1.5 ms of every ~27 ms token on a small machine, spent one after the other.

``read_ahead`` runs the whole chunk iterator in one thread that goes on generating while the
event loop sends what is ready, so the two overlap.  The loop stays the only one that writes
to the client; the iterator is run by exactly one thread and closed in that thread.

A client that goes away leaves the server's ``async for`` early, and nothing closes the
iterator it was reading at once (Python finalizes it later).  So ``install`` also wraps the
server's model lock (``get_llama_proxy``): before it releases the model, every read-ahead
thread started under it is told to stop and waited for (at most the rest of one token), so the
next request never finds the model still in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

_END = object()

# the read-ahead threads started while the current request holds the model
_holding: ContextVar[list | None] = ContextVar("chatsynth_read_ahead", default=None)


async def _finish(threads: list) -> None:
    """Stop each (stop event, thread future) pair at its next chunk and wait for it, even when
    the caller is being cancelled."""
    import anyio

    for stop, _ in threads:
        stop.set()
    with anyio.CancelScope(shield=True):
        for _, done in threads:
            with contextlib.suppress(BaseException):
                await asyncio.shield(done)


async def read_ahead(iterable: Iterable[T]) -> AsyncIterator[T]:
    """Yield ``iterable``'s items as a thread produces them, the thread never waiting for the
    consumer.  An exception in the iterator is raised here, after the items before it."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()

    def put(item: object, err: BaseException | None = None) -> bool:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (item, err))
            return True
        except RuntimeError:  # the loop is closed: nobody is listening
            return False

    def produce() -> None:
        it: Iterator[T] = iter(iterable)
        try:
            for item in it:
                if stop.is_set() or not put(item):
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the consumer as it is
            put(_END, e)
            return
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                try:
                    close()  # in this thread, which is the only one that ran it
                except Exception:  # noqa: BLE001 - the consumer has what it needs
                    pass
        put(_END)

    done = loop.run_in_executor(None, produce)
    held = _holding.get()
    if held is not None:
        held.append((stop, done))
    try:
        while True:
            item, err = await queue.get()
            if item is _END:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        await _finish([(stop, done)])


def install() -> bool:
    """Make llama-cpp-python's server stream through ``read_ahead``.  False (and nothing
    changed) where the server lacks either hook, e.g. another version than the one pinned."""
    from llama_cpp.server import app

    hold = getattr(app, "get_llama_proxy", None)
    if not callable(getattr(app, "iterate_in_threadpool", None)) or not callable(hold):
        return False

    async def get_llama_proxy():  # the server enters it with contextlib.asynccontextmanager
        async with contextlib.asynccontextmanager(hold)() as proxy:
            threads: list = []
            token = _holding.set(threads)
            try:
                yield proxy
            finally:
                await _finish(threads)  # before the model is released
                with contextlib.suppress(ValueError):
                    _holding.reset(token)

    app.get_llama_proxy = get_llama_proxy
    app.iterate_in_threadpool = read_ahead
    return True
