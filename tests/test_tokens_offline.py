"""Token counts work with no network and no TIKTOKEN_CACHE_DIR: o200k_base and cl100k_base ship
inside the package (checked by SHA-256) and equal tiktoken's own encodings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tiktoken

from synth import bundled_encodings
REPO = Path(__file__).resolve().parent.parent
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, any download attempt fails


def offline_env(tmp_path: Path, **extra: str) -> dict:
    """No TIKTOKEN_CACHE_DIR, an empty temp folder (tiktoken's default cache lives there) and an
    empty XDG cache, every proxy pointed at a closed loopback port."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR", "NO_PROXY", "no_proxy")}
    for d in ("tmp", "xdg-cache"):
        (tmp_path / d).mkdir(exist_ok=True)
    env.update(TMPDIR=str(tmp_path / "tmp"), XDG_CACHE_HOME=str(tmp_path / "xdg-cache"),
               HTTPS_PROXY=CLOSED, HTTP_PROXY=CLOSED, https_proxy=CLOSED, http_proxy=CLOSED,
               ALL_PROXY=CLOSED, all_proxy=CLOSED, REQUESTS_CA_BUNDLE=str(tmp_path / "none.pem"),
               **extra)
    return env


def run_offline(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    """`chatsynth ARGS` in a subprocess with exactly ``offline_env`` (the cli fixture would put
    the test process's TIKTOKEN_CACHE_DIR back), from a folder far from the repository."""
    return subprocess.run([sys.executable, "-m", "synth.cli.main", *args], cwd=tmp_path,
                          env=offline_env(tmp_path, **extra), capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_shipped_encoding_equals_tiktokens_own(name):
    mine = bundled_encodings.load_bundled(name)
    theirs = tiktoken.get_encoding(name)  # from the shared cache the tests use
    assert mine._pat_str == theirs._pat_str
    assert mine._special_tokens == theirs._special_tokens
    assert mine._mergeable_ranks == theirs._mergeable_ranks
    text = "Eve asks: can't you sleep?\n\n  日本語 😟 12345 <|endoftext|>"
    assert mine.encode(text, allowed_special="all") == theirs.encode(text, allowed_special="all")


def test_validate_and_estimate_offline_with_no_cache_setting(tmp_path, cli):
    ws = tmp_path / "ws"
    assert cli("init", str(ws)).returncode == 0
    data = tmp_path / "train.jsonl"
    msgs = [{"role": "system", "content": "You are Eve."},
            {"role": "user", "content": "I can't sleep before exams."},
            {"role": "assistant", "content": "That sounds draining. What helps you unwind?"}]
    data.write_text("\n".join(json.dumps({"messages": msgs}) for _ in range(10)) + "\n")
    r = run_offline(tmp_path, "validate", str(data), CHATSYNTH_WORKSPACE=str(ws))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-2000:]
    assert "tiktoken" not in out and "Traceback" not in out
    enc = tiktoken.get_encoding("o200k_base")
    per_example = 3 + sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in msgs)
    assert f"{per_example * 10:,}" in out or str(per_example * 10) in out, out
    for model in ("gpt-4o-mini", "gpt-4"):  # o200k_base and cl100k_base
        r = run_offline(tmp_path, "estimate", "--persona", "eve", "--topics", "eve", "--model",
                        model, CHATSYNTH_WORKSPACE=str(ws))
        assert r.returncode == 0, (model, (r.stdout + r.stderr)[-2000:])
        assert "tokens" in r.stdout and "Traceback" not in r.stdout + r.stderr
    # tiktoken's download-and-cache path never ran: its default cache was never made
    assert not (tmp_path / "tmp" / "data-gym-cache").exists()


def test_a_damaged_shipped_file_is_refused(tmp_path, cli):
    site = tmp_path / "site"
    shutil.copytree(REPO / "synth", site / "synth", ignore=shutil.ignore_patterns("__pycache__"))
    f = site / "synth" / "_tiktoken" / "o200k_base.tiktoken"
    raw = bytearray(f.read_bytes())
    raw[100] ^= 1
    f.write_bytes(bytes(raw))
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "hello"}]}) + "\n")
    ws = tmp_path / "ws"
    assert cli("init", str(ws)).returncode == 0
    r = run_offline(tmp_path, "validate", str(data), PYTHONPATH=str(site),
                    CHATSYNTH_WORKSPACE=str(ws))
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "Traceback" not in out
    assert f"{f}: the shipped encoding file is damaged" in out, out[-2000:]
    assert bundled_encodings.SHA256["o200k_base"] in out


def test_an_encoding_that_is_not_shipped_still_says_what_to_do(tmp_path):
    code = ("import sys\n"
            "from synth.tokens import load_encoding, TokenizerUnavailable\n"
            "try:\n    load_encoding('r50k_base')\n"
            "except TokenizerUnavailable as e:\n    print(e); sys.exit(7)\n")
    env = offline_env(tmp_path, TIKTOKEN_CACHE_DIR=str(tmp_path / "empty"))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 7, r.stderr[-2000:]
    assert "can't load the tiktoken encoding 'r50k_base'" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr
