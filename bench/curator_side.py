"""Curator's side of bench/bench_engine.py, run by the Python of Curator's own venv (never
chatsynth's): reads one job as JSON on stdin, asks Curator for every prompt against the
given OpenAI-compatible URL (chat completions, no stream, at the given concurrency), and
prints {"conv_per_s", "cpu_ms_per_conv", "done"} as the last line on stdout.
Imports are not timed; the call is (the whole of Curator's work for the prompts: requests,
its response files and dataset)."""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    job = json.loads(sys.stdin.read())
    from bespokelabs import curator

    class Side(curator.LLM):
        def prompt(self, row: dict) -> str:
            return row["prompt"]

        def parse(self, row: dict, response: str) -> dict:
            return {"text": response}

    llm = Side(
        model_name="fault-model", backend="openai",
        generation_params={"max_tokens": job["max_tokens"], "temperature": job["temperature"],
                           "stop": job["stop"]},
        backend_params={"base_url": job["url"], "api_key": "x",
                        "max_concurrent_requests": job["concurrency"],
                        "max_requests_per_minute": 10_000_000,
                        "max_tokens_per_minute": 10_000_000_000,
                        "max_retries": 0, "require_all_responses": True})
    rows = [{"prompt": p} for p in job["prompts"]]
    c0, t0 = time.process_time(), time.perf_counter()
    out = llm(rows)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(rows)
    done = len(out.dataset) if hasattr(out, "dataset") else len(out)
    if done != n:
        print(f"Curator answered {done} of {n}", file=sys.stderr)
        return 1
    print(json.dumps({"conv_per_s": n / dt, "cpu_ms_per_conv": cpu * 1000 / n, "done": done}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
