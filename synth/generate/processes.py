"""Stopping a child process: ask it (SIGTERM), then insist (SIGKILL), never wait forever."""

from __future__ import annotations

import subprocess


def terminate(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM ``proc``, give it ``grace`` seconds to exit, then SIGKILL it and reap it."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace)
