"""The fault server in its own process, scriptable and inspectable over loopback HTTP.

Used where the test process must hold nothing but the code under test (the soak test measures
its own memory) or where the client is another process (``chatsynth run`` in the crash test).

Control routes (besides the OpenAI ones of ``tests/faultserver.py``):
  POST /_control/script   {"actions": [...], "match": null}   queue actions
  POST /_control/default  {"action": "ok"}                    the unscripted action
  POST /_control/delay    {"chunk_delay": 0.01}               slow or fast streaming
  POST /_control/reject   {"params": ["top_p"]}               400 for these request parameters
  GET  /_control/log      every request so far: t (monotonic, same clock as the test's),
                          action, prompt's topic line, authorization header

    with FaultProc() as fp:  fp.url, fp.script([...]), fp.log()
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from faultserver import FaultServer  # noqa: E402

_TOPIC = re.compile(r"^Topic:\s*(.+)$", re.MULTILINE)


class ControlledFaultServer(FaultServer):
    async def _dispatch(self, method: str, path: str, raw: bytes, writer: Any,
                        headers: dict[str, str] | None = None) -> bool:
        p = path.split("?", 1)[0]
        if not p.startswith("/_control/"):
            return await super()._dispatch(method, path, raw, writer, headers)
        body = json.loads(raw or b"{}")
        if p == "/_control/script":
            self.script(list(body["actions"]), body.get("match"))
        elif p == "/_control/default":
            self.default = str(body["action"])
        elif p == "/_control/delay":
            self.chunk_delay = float(body["chunk_delay"])
        elif p == "/_control/reject":
            self.reject_params = set(body["params"])
        elif p == "/_control/reset":
            self.reset()
        elif p == "/_control/log":
            out = []
            for r in list(self.requests):
                m = _TOPIC.search(r.prompt)
                out.append({"t": r.t, "action": r.action, "path": r.path,
                            "topic": m.group(1).strip() if m else "",
                            "authorization": (getattr(r, "headers", None) or {}).get("authorization"),
                            "params": {k: v for k, v in (r.body or {}).items()
                                       if k not in ("prompt", "messages")}})
            await self._send(writer, 200, {"requests": out})
            return True
        await self._send(writer, 200, {"ok": True})
        return True


class FaultProc:
    """Start ``ControlledFaultServer`` in a child process; talk to it over loopback."""

    def __init__(self, *, chunk_delay: float = 0.0, turns: int = 6, words_per_turn: int = 8) -> None:
        self.args = ["--chunk-delay", str(chunk_delay), "--turns", str(turns),
                     "--words-per-turn", str(words_per_turn)]
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self._http: httpx.Client | None = None
        self._err: Any = None

    def start(self) -> "FaultProc":
        # the server's own complaints (a client killed mid-request) go to a file, not the test
        # output; ``stderr_tail()`` shows them when a test wants to
        self._err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *self.args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"fault server did not start: {line!r}")
        self.url = line
        self._http = httpx.Client(base_url=line.rsplit("/v1", 1)[0], timeout=10.0)
        return self

    def _post(self, route: str, body: dict[str, Any]) -> None:
        assert self._http is not None
        self._http.post(f"/_control/{route}", json=body).raise_for_status()

    def script(self, actions: list[str], match: str | None = None) -> None:
        self._post("script", {"actions": actions, "match": match})

    def set_default(self, action: str) -> None:
        self._post("default", {"action": action})

    def set_delay(self, chunk_delay: float) -> None:
        self._post("delay", {"chunk_delay": chunk_delay})

    def reset(self) -> None:
        self._post("reset", {})

    def reject(self, *params: str) -> None:
        self._post("reject", {"params": list(params)})

    def log(self) -> list[dict[str, Any]]:
        assert self._http is not None
        r = self._http.get("/_control/log")
        r.raise_for_status()
        return r.json()["requests"]

    def stderr_tail(self, n: int = 2000) -> str:
        if self._err is None:
            return ""
        self._err.seek(0)
        return self._err.read()[-n:]

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.proc is not None and self.proc.poll() is None:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self._err is not None:
            self._err.close()
            self._err = None

    def __enter__(self) -> "FaultProc":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Child side: serve until SIGTERM, or until the parent goes away (stdin reaches EOF)."""
    import argparse
    import asyncio
    import os
    import threading

    ap = argparse.ArgumentParser()
    for flag, default in (("--chunk-delay", 0.0), ("--turns", 6), ("--words-per-turn", 8)):
        ap.add_argument(flag, type=type(default), default=default)
    opts = vars(ap.parse_args(argv))
    server = ControlledFaultServer(**opts)

    def orphan_watch() -> None:
        while sys.stdin.buffer.read(1):
            pass
        os._exit(0)

    threading.Thread(target=orphan_watch, daemon=True).start()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(server.start_async())
    sys.stdout.write(server.url + "\n")
    sys.stdout.flush()
    loop.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
