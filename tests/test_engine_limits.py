"""Limits, backoff, Retry-After parsing and error sorting: the small parts the engine leans on."""

from __future__ import annotations

import asyncio
import email.utils
import time

from synth.generate.endpoints import Endpoint, FatalError, TransientError, _adapt, retry_after_of
from synth.generate.limits import Backoff, Cooldown, Storm, TokenBucket


def test_retry_after_seconds_date_and_ms():
    assert retry_after_of({"retry-after": "3"}) == 3.0
    assert retry_after_of({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    now = time.time()
    date = email.utils.formatdate(now + 10, usegmt=True)
    assert 8.5 <= retry_after_of({"retry-after": date}, now=now) <= 10.0
    assert retry_after_of({"retry-after": "soon"}) is None
    assert retry_after_of({}) is None
    assert retry_after_of({"retry-after": "-4"}) == 0.0


def test_backoff_grows_with_jitter_and_never_undercuts_retry_after():
    b = Backoff(base=1.0, factor=2.0, cap=8.0)
    for attempt, hi in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        for _ in range(50):
            d = b.delay(attempt)
            assert hi / 2 <= d <= hi
    assert b.delay(1, retry_after=30.0) == 30.0


async def test_token_bucket_keeps_the_average_rate_even_for_big_requests():
    tb = TokenBucket(600)  # 10 a second, burst 10
    t0 = time.monotonic()
    for _ in range(10):
        await tb.acquire(1)
    assert time.monotonic() - t0 < 0.1  # the burst is free
    t0 = time.monotonic()
    await tb.acquire(1)
    assert time.monotonic() - t0 >= 0.08
    tpm = TokenBucket(6000)  # 100 tokens a second, burst 100
    await tpm.acquire(300)  # bigger than the bucket: goes once full, leaves a debt
    t0 = time.monotonic()
    await tpm.acquire(10)
    assert time.monotonic() - t0 >= 2.0  # the 200-token debt is paid first


async def test_cooldown_holds_every_waiter():
    cd = Cooldown()
    cd.hold(0.2)
    t0 = time.monotonic()
    await asyncio.gather(cd.wait(), cd.wait())
    assert time.monotonic() - t0 >= 0.19


def test_storm_needs_both_a_streak_and_a_quiet_window():
    s = Storm(threshold=3, window_s=0.1)
    assert not s.failure("x") and not s.failure("x")
    assert not s.failure("x")  # streak reached, but a success was too recent
    time.sleep(0.12)
    assert s.failure("x")
    s.success()
    assert not s.failure("x")


def test_adapting_to_rejected_parameters():
    ep = Endpoint(name="e", base_url="http://x/v1", model="m")
    kw = {"max_tokens": 5, "temperature": 1.0, "stream_options": {}}
    assert _adapt(ep, "Unsupported parameter: 'max_tokens' is not supported with this model. "
                  "Use 'max_completion_tokens' instead.", kw)
    assert ep.token_param == "max_completion_tokens"
    assert _adapt(ep, "Unsupported value: 'temperature' does not support 0.8", kw)
    assert ep.dropped == {"temperature"}
    assert not _adapt(ep, "Invalid API key", kw)
    assert not _adapt(ep, "something unsupported happened", kw)  # names no parameter


def test_request_stops_capped_in_order():
    ep = Endpoint(name="e", base_url="http://x/v1", model="m", max_stop=2)
    assert ep.request_stops(["a", "", "b", "c"]) == ["a", "b"]
    assert "sk-zzz" not in repr(Endpoint(name="e", base_url="u", model="m", api_key="sk-zzz"))
    assert issubclass(FatalError, Exception) and issubclass(TransientError, Exception)
