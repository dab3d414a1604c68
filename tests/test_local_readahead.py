"""The embedded model server's read-ahead (synth/generate/local_readahead.py): the model goes
on generating while the server sends each token, and gives the model back only once done."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import threading
import time

import pytest

from synth.generate.local_readahead import install, read_ahead


def _counting(n: int, produced: list, closed_in: list, delay: float = 0.0, fail_at: int | None = None):
    try:
        for i in range(n):
            if delay:
                time.sleep(delay)
            if i == fail_at:
                raise ValueError(f"bad chunk {i}")
            produced.append(i)
            yield i
    finally:
        closed_in.append(threading.current_thread().name)


async def _until(cond, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        await asyncio.sleep(0.005)
    return cond()


async def test_items_come_in_order_and_the_producer_does_not_wait_for_the_reader():
    produced, closed_in = [], []
    got = []
    it = read_ahead(_counting(6, produced, closed_in))
    got.append(await it.__anext__())
    # the reader is busy elsewhere; the thread has gone on to the end on its own (one chunk
    # at a time, as Starlette's iterate_in_threadpool gives, would stop at 1)
    assert await _until(lambda: len(produced) == 6), produced
    got += [x async for x in it]
    assert got == [0, 1, 2, 3, 4, 5]
    assert closed_in and closed_in[0] != threading.current_thread().name


async def test_an_error_in_the_iterator_comes_after_the_items_before_it():
    produced, closed_in = [], []
    got = []
    with pytest.raises(ValueError, match="bad chunk 3"):
        async for x in read_ahead(_counting(6, produced, closed_in, fail_at=3)):
            got.append(x)
    assert got == [0, 1, 2]
    assert closed_in


async def test_closing_early_stops_the_thread_and_closes_the_iterator_in_it():
    produced, closed_in = [], []
    it = read_ahead(_counting(10_000, produced, closed_in, delay=0.002))
    async for x in it:
        if x == 2:
            break
    await it.aclose()  # returns once the thread has finished
    assert closed_in and closed_in[0] != threading.current_thread().name
    n = len(produced)
    await asyncio.sleep(0.05)
    assert len(produced) == n < 10_000


HAVE_SERVER = importlib.util.find_spec("llama_cpp") is not None


@pytest.mark.skipif(not HAVE_SERVER and not os.environ.get("CI"),
                    reason="llama-cpp-python is not installed (make test installs it)")
async def test_the_server_keeps_the_model_until_an_abandoned_stream_has_stopped(monkeypatch):
    """The server leaves its ``async for`` when a client goes away and nothing closes the
    iterator then; the model lock it holds must not be released while the read-ahead thread
    still runs the model."""
    from llama_cpp.server import app

    for name in ("get_llama_proxy", "iterate_in_threadpool"):
        monkeypatch.setattr(app, name, getattr(app, name))  # put back after the test
    assert install() is True
    assert app.iterate_in_threadpool is read_ahead

    produced, closed_in = [], []
    async with contextlib.asynccontextmanager(app.get_llama_proxy)():
        it = app.iterate_in_threadpool(_counting(10_000, produced, closed_in, delay=0.002))
        async for x in it:
            if x == 2:
                break  # as the server's loop does on a disconnect: `it` is left open
        assert app.llama_inner_lock.locked()
    # the model lock is free only now, and the thread has stopped and closed the iterator
    assert not app.llama_inner_lock.locked()
    assert closed_in
    n = len(produced)
    await asyncio.sleep(0.05)
    assert len(produced) == n < 10_000
    del it
