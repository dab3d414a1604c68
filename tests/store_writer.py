"""A writer process for the crash tests: stores conversations and prints each id once stored."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from synth.models import Conversation, Turn


def make_conversation(run_id: str, i: int, size: int = 2000) -> Conversation:
    body = ("word " * (size // 5))[:size]
    return Conversation(
        id=f"conv-{i:07d}", run_id=run_id, persona_id="eve", topic_id=f"t{i}", topic=f"topic {i}",
        k=0, endpoint="local", model="test", params={"temperature": 0.8}, prompt="USER:",
        raw_text=body, turns=[Turn("user", body[: size // 2], "USER"), Turn("assistant", body[size // 2:], "EVE")],
        created_at=time.time(),
    )


def main() -> None:
    from synth.dataset.store import Store

    runs_dir, run_id, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    start = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    store = Store(runs_dir)
    with store.writer(run_id) as w:
        for i in range(start, start + count):
            w.append(make_conversation(run_id, i))
            sys.stdout.write(f"stored conv-{i:07d}\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
