"""Rate limits, backoff and the "everything keeps failing" detector the engine uses.

- ``TokenBucket``: requests-per-minute or tokens-per-minute budgets (continuous refill).
- ``Backoff``: exponential backoff with full jitter, never shorter than a server's Retry-After.
- ``Cooldown``: a shared "not before" time, so one 429's Retry-After holds back every worker.
- ``Storm``: N failures in a row with no success for a while -> pause rather than spin.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field


class TokenBucket:
    """``rate_per_min`` units per minute, bursting up to ``capacity`` (default: one second's).

    A request larger than the bucket waits for a full bucket and then leaves it in debt, so
    the average rate holds even for requests bigger than the burst.
    """

    def __init__(self, rate_per_min: float, capacity: float | None = None) -> None:
        if rate_per_min <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate_per_min / 60.0
        self.capacity = float(capacity if capacity is not None else max(1.0, rate_per_min / 60.0))
        self.level = self.capacity
        self.stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, n: float) -> float:
        self._refill()
        n = min(n, self.capacity)  # a request larger than the bucket waits for a full bucket
        return 0.0 if self.level >= n else (n - self.level) / self.rate

    async def acquire(self, n: float = 1.0) -> float:
        """Take ``n`` units, waiting as needed.  Returns the seconds waited."""
        waited = 0.0
        async with self._lock:
            while True:
                w = self.wait_time(n)
                if w <= 0:
                    self.level -= n
                    return waited
                await asyncio.sleep(w)
                waited += w

    def refund(self, n: float) -> None:
        """Give back units that were reserved but not used (e.g. fewer tokens than projected)."""
        self._refill()
        self.level = min(self.capacity, self.level + max(0.0, n))


@dataclass
class Backoff:
    base: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    max_attempts: int = 6  # per conversation, the first try included
    jitter: bool = True

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        d = min(self.cap, self.base * self.factor ** max(0, attempt - 1))
        if self.jitter:
            d = random.uniform(d / 2, d)
        if retry_after is not None:
            d = max(d, retry_after)
        return d


class Cooldown:
    """A shared time before which no request starts (set by Retry-After)."""

    def __init__(self) -> None:
        self.until = 0.0

    def hold(self, seconds: float) -> None:
        self.until = max(self.until, time.monotonic() + seconds)

    async def wait(self) -> float:
        waited = 0.0
        while True:
            d = self.until - time.monotonic()
            if d <= 0:
                return waited
            await asyncio.sleep(d)
            waited += d


@dataclass
class Storm:
    """Detects a run where every request keeps failing.

    Trips when at least ``threshold`` attempts failed in a row and no attempt succeeded for
    ``window_s`` seconds (so a few failures among many successes never pause a run).
    """

    threshold: int = 8
    window_s: float = 30.0
    consecutive: int = 0
    last_success: float = field(default_factory=time.monotonic)
    last_reason: str = ""

    def success(self) -> None:
        self.consecutive = 0
        self.last_success = time.monotonic()

    def failure(self, reason: str) -> bool:
        """Record a failed attempt; True when the run should pause."""
        self.consecutive += 1
        self.last_reason = reason
        return self.tripped()

    def tripped(self) -> bool:
        return (self.consecutive >= self.threshold
                and time.monotonic() - self.last_success >= self.window_s)

    def reset(self) -> None:
        self.consecutive = 0
        self.last_success = time.monotonic()
