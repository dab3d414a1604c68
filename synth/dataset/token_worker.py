"""Token counting in a process of its own, for the export's first pass.

The first pass is Python (read, filter, tally) and token counting is tiktoken's Rust, which
gives the GIL back for each text and needs it again to return: counted in threads beside the
filters, each text waited a switch interval (5 ms) for the GIL, so the pass used to stop and
wait while the threads counted each batch.  In a process of its own the counting has a GIL of
its own: the pass hands a batch over a pipe and goes on filtering while it is counted.

    python -m synth.dataset.token_worker ENCODING THREADS

reads pickled lists of texts from stdin and writes, for each, the pickled list of their token
counts (``encode_ordinary``, the export's count) to stdout, until stdin closes.  ``Worker`` is
the export's end of it; any fault (it can't start, it dies, it answers nonsense) raises
``WorkerGone`` and the caller counts in threads instead: the counts are the same either way.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from typing import BinaryIO, Sequence


class WorkerGone(Exception):
    """The worker process can't take or answer a batch."""


class Worker:
    """One counting process; batches are answered in the order they were sent."""

    def __init__(self, encoding: str, threads: int) -> None:
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "synth.dataset.token_worker", encoding, str(threads)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=_env())
        except OSError as exc:
            raise WorkerGone(f"can't start the token counting process: {exc}") from None

    def send(self, texts: Sequence[str]) -> None:
        try:
            pickle.dump(list(texts), self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except (OSError, ValueError, pickle.PickleError) as exc:
            raise WorkerGone(f"the token counting process stopped taking texts: {exc}") from None

    def receive(self, expected: int) -> list[int]:
        """The counts of the oldest batch not received yet (``expected`` texts)."""
        try:
            counts = pickle.load(self.proc.stdout)  # type: ignore[arg-type]
        except (OSError, EOFError, ValueError, pickle.UnpicklingError) as exc:
            raise WorkerGone(f"the token counting process did not answer: {exc!r}") from None
        if not isinstance(counts, list) or len(counts) != expected:
            raise WorkerGone("the token counting process answered with the wrong number of counts")
        return counts

    def close(self) -> None:
        """Ends the process (its stdin closes) and waits for it."""
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()  # type: ignore[union-attr]
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _env() -> dict[str, str]:
    """This environment, with the folder this synth package is in first on the worker's import
    path, so that it counts with the same code (a checkout run from its folder, a test's tree)."""
    from pathlib import Path

    import synth

    env = dict(os.environ)
    here = str(Path(synth.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([here, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
    return env


def serve(encoding: str, threads: int, inp: BinaryIO, out: BinaryIO) -> None:
    from concurrent.futures import ThreadPoolExecutor

    enc = None

    def lens(chunk: list[str]) -> list[int]:
        return [len(enc(t)) for t in chunk]  # type: ignore[misc]

    with ThreadPoolExecutor(max(1, threads)) as pool:
        while True:
            try:
                texts = pickle.load(inp)
            except EOFError:
                return
            if enc is None:  # the first batch is read first, so that sending it never waits
                from synth.tokens import load_encoding  # for the encoding to load

                enc = load_encoding(encoding).encode_ordinary
            size = -(-len(texts) // max(1, threads)) or 1
            parts = pool.map(lens, [texts[i:i + size] for i in range(0, len(texts), size)])
            pickle.dump([n for part in parts for n in part], out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), sys.stdin.buffer, sys.stdout.buffer)
