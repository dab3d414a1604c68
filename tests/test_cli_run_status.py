"""`chatsynth run` says why a run ended, and shows its progress as rich's bar on a terminal and
as plain lines otherwise: real subprocesses, real sockets, a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time


from tests.conftest import REPO
from tests.faultserver import FaultServer
from tests.test_cli_run import one_line_error
from tests.test_engine_lifecycle import dead_url


def test_a_dead_endpoint_exits_3_at_once_saying_it_cant_be_reached(cli, ws):
    url = dead_url()
    t0 = time.monotonic()
    r = cli("run", "--topics", "short", "--base-url", url, "--model", "m", "--limit", "2")
    assert r.returncode == 3, r.stderr
    assert time.monotonic() - t0 < 20  # the old code retried each conversation 6 times
    assert one_line_error(r.stderr).startswith(f"chatsynth: stopped: can't reach {url}")
    assert "stopped - can't reach" in r.stdout and "wrote up to the limit" not in r.stdout
    assert "0 failed this time" in r.stdout


def test_every_conversation_failing_exits_1_and_says_so(cli, ws, fs):
    fs.default = "500"
    r = cli("run", "--topics", "short", "--base-url", fs.url, "--model", "m", "--limit", "2",
            "--max-attempts", "1", "--pause-after", "100")
    assert r.returncode == 1, r.stderr
    assert "failed - every conversation failed: gave up after 1 attempt: HTTP 500" in r.stdout
    assert "limit" not in r.stdout


def test_progress_is_plain_lines_when_not_a_terminal(cli, ws, fs):
    r = cli("run", "--topics", "short", "--base-url", fs.url, "--limit", "3")
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr and "\x1b[" not in r.stderr
    assert "3/3 done, 0 failed, 0 writing |" in r.stderr


def test_progress_is_a_rich_bar_on_a_terminal(ws):
    with FaultServer(chunk_delay=0.01) as slow:
        master, slave = pty.openpty()
        env = dict(os.environ, COLUMNS="120", TERM="xterm-256color")
        env.pop("NO_COLOR", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "synth.cli.main", "run", "--topics", "short", "--base-url",
             slow.url, "--limit", "4", "--concurrency", "2"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=slave, text=True)
        os.close(slave)
        seen = b""
        end = time.monotonic() + 60
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        out, _ = proc.communicate(timeout=30)
        os.close(master)
    assert proc.returncode == 0, seen[-2000:]
    text = seen.decode("utf-8", "replace")
    assert "━" in text  # rich's bar
    assert "0 failed" in text and "done" in text
    assert "4 of 8 stored" in out
