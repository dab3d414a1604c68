"""Helpers for the reliability suite (soak, crash recovery, secrets, benchmarks).

Composes the real parts: ``tests/faultserver.py``'s loopback server, a real workspace made by
``init_workspace``, the real store and engine.  Nothing here patches a function.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from faultserver import FaultServer  # noqa: E402

# Every fault the fault server knows that a run should ride through (transient ones).
TRANSIENT_FAULTS = ("429:{ra}", "429date:{ra_date}", "429", "500", "502", "503", "cut",
                    "stall:{stall}", "stallmid:{stall}", "malformed", "wrongjson", "empty",
                    "nousage")


def mixed_actions(n: int, *, fault_rate: float, seed: int, retry_after: float = 0.2,
                  stall: float = 0.6, faults: Iterable[str] = TRANSIENT_FAULTS) -> list[str]:
    """``n`` scripted actions: ``ok`` mostly, every transient fault spread in at ``fault_rate``.

    Each fault kind appears at least once (as long as ``n`` allows it).
    """
    rng = random.Random(seed)
    kinds = [f.format(ra=retry_after, ra_date=1, stall=stall) for f in faults]
    out = ["ok"] * n
    slots = list(range(n))
    rng.shuffle(slots)
    k = max(len(kinds), int(n * fault_rate))
    for i, pos in enumerate(slots[:k]):
        out[pos] = kinds[i % len(kinds)]
    return out


def write_topics(path: Path, n: int, prefix: str = "soak topic") -> Path:
    """A text topic file with ``n`` distinct short topics."""
    path.write_text("# generated for the reliability suite\n"
                    + "".join(f"{prefix} number {i:04d} about a small worry\n" for i in range(n)),
                    encoding="utf-8")
    return path


def make_workspace(root: Path, n_topics: int, name: str = "soak"):
    """A real workspace (example library included) with a topic file of ``n_topics`` topics.

    Returns (workspace, persona eve, topic source).
    """
    from synth.library.personas import find_persona
    from synth.library.topics import load_topic_source
    from synth.library.workspace import init_workspace

    ws, _ = init_workspace(root)
    tp = write_topics(ws.topics_dir / f"{name}.txt", n_topics)
    return ws, find_persona(ws, "eve"), load_topic_source(tp)


def fault_endpoint(url: str, *, timeout: float = 5.0, api_key: str | None = None):
    from synth.generate.endpoints import NO_KEY, Endpoint

    return Endpoint(name="fault", base_url=url, model="fault-model", style="completion",
                    api_key=api_key or NO_KEY, timeout=timeout, connect_timeout=2.0,
                    label="fault server", free=True)


def raw_records(conv_path: Path) -> list[dict[str, Any]]:
    """Every whole record line of a conversation log (the header skipped), as written."""
    out = []
    with open(conv_path, "rb") as fh:
        fh.readline()
        for line in fh:
            if line.endswith(b"\n"):
                out.append(json.loads(line))
    return out


def duplicate_complete_ids(conv_path: Path) -> dict[str, int]:
    c = Counter(r["id"] for r in raw_records(conv_path) if r.get("status") == "complete")
    return {k: v for k, v in c.items() if v > 1}


def rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def scan_for(needle: str, roots: Iterable[Path]) -> list[str]:
    """Files under ``roots`` whose bytes contain ``needle`` (also as JSON- or URL-escaped)."""
    forms = {needle.encode(), json.dumps(needle)[1:-1].encode()}
    hits = []
    for root in roots:
        root = Path(root)
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for p in files:
            try:
                data = p.read_bytes()
            except OSError:
                continue
            if any(f in data for f in forms):
                hits.append(str(p))
    return hits


class Deadline:
    """A bound on wall time for loops in tests."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def __bool__(self) -> bool:
        return self.left() > 0


def chatsynth_cmd() -> list[str]:
    return [sys.executable, "-m", "synth.cli.main"]


def cli_env(ws_root: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["CHATSYNTH_WORKSPACE"] = str(ws_root)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(extra)
    return env


__all__ = ["FaultServer", "mixed_actions", "write_topics",
           "make_workspace", "fault_endpoint", "raw_records", "duplicate_complete_ids", "rss_kb",
           "scan_for", "Deadline", "chatsynth_cmd", "cli_env"]
