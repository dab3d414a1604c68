"""Bad-input fuzzing for `validate`: any file gives a report or one clear line naming the file,
never a traceback, and the file is never changed.

Inputs are mutations of valid chat, ShareGPT and prompt/completion files (bytes flipped, cut,
inserted; lines swapped, duplicated, wrapped, re-encoded), written to disk and read back through
``synth.dataset.validate.validate_file``; a handful also go through ``chatsynth validate FILE`` in a real
subprocess.  (Persona, topic, config and store files are fuzzed in tests/test_fuzz_inputs.py.)
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synth.errors import ChatsynthError
from synth.dataset.validate import validate_file

REPO = Path(__file__).resolve().parent.parent
SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _chat(i: int) -> dict:
    return {"messages": [
        {"role": "system", "content": "You are Eve, a digital life coach."},
        {"role": "user", "content": f"I keep putting off task {i} and feel awful."},
        {"role": "assistant", "content": f"That sounds heavy. What is one small step on task {i}?"},
        {"role": "user", "content": "Maybe writing one paragraph."},
        {"role": "assistant", "content": "Try that tomorrow at 9, before email."}]}


def _sharegpt(i: int) -> dict:
    return {"conversations": [
        {"from": "system", "value": "You are Eve."},
        {"from": "human", "value": f"Question {i}: how do I start?"},
        {"from": "gpt", "value": "Pick the smallest next step and schedule it?"}]}


def _completion(i: int) -> dict:
    return {"prompt": f"USER: worry {i}\n\nEVE:", "completion": f" What would help most? {i}\n\nUSER:"}


SEEDS = {
    "chat": "\n".join(json.dumps(_chat(i)) for i in range(12)).encode() + b"\n",
    "sharegpt": "\n".join(json.dumps(_sharegpt(i)) for i in range(12)).encode() + b"\n",
    "completion": "\n".join(json.dumps(_completion(i)) for i in range(12)).encode() + b"\n",
}

_INSERTS = [b"{", b"}", b"]", b"[", b'"', b",", b":", b"\\", b"\\u", b"\\ud800", b"\x00", b"\xff\xfe",
            b"\xef\xbb\xbf", b"\r", b"\n", b"\r\n", b"NaN", b"-Infinity", b"1e999999", b"9" * 400,
            b'"role": "tool"', b'"content": null', b'"messages": {}', b'"weight": 2',
            b'{"messages": []}', b'"messages": [{"role": "assistant"}]', b"[" * 60 + b"]" * 60,
            "\u202e\u0000é\U0001f600".encode(), b"sk-proj-" + b"A" * 40]


@st.composite
def mutated(draw, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "dupline", "swapline",
                                   "dropline", "array", "bom", "crlf", "blank", "latin1"]))
        if not data:
            data = bytearray(draw(st.binary(max_size=20)))
            continue
        i = draw(st.integers(0, len(data) - 1))
        lines = bytes(data).split(b"\n")
        j = draw(st.integers(0, len(lines) - 1))
        if op == "flip":
            data[i] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 60))]
        elif op == "insert":
            data[i:i] = draw(st.sampled_from(_INSERTS))
        elif op == "truncate":
            data = data[:i]
        elif op == "dupline":
            lines.insert(j, lines[j])
            data = bytearray(b"\n".join(lines))
        elif op == "swapline":
            k = draw(st.integers(0, len(lines) - 1))
            lines[j], lines[k] = lines[k], lines[j]
            data = bytearray(b"\n".join(lines))
        elif op == "dropline":
            del lines[j]
            data = bytearray(b"\n".join(lines))
        elif op == "array":
            data = bytearray(b"[" + b",".join(x for x in lines if x.strip()) + b"]")
        elif op == "bom":
            data[0:0] = b"\xef\xbb\xbf"
        elif op == "crlf":
            data = bytearray(bytes(data).replace(b"\n", b"\r\n"))
        elif op == "blank":
            lines.insert(j, draw(st.sampled_from([b"", b"   ", b"\t"])))
            data = bytearray(b"\n".join(lines))
        elif op == "latin1":
            data = bytearray(bytes(data).decode("utf-8", "replace").encode("latin-1", "replace"))
    return bytes(data)


def _fingerprint(p: Path) -> tuple[str, int, int]:
    st_ = p.stat()
    return hashlib.sha256(p.read_bytes()).hexdigest(), st_.st_mtime_ns, st_.st_mode


def _check_report_or_error(path: Path, fmt: str | None = None) -> str:
    """validate_file on ``path``: a well-formed report, or a one-line ChatsynthError naming it."""
    before = _fingerprint(path)
    nlines = len(path.read_bytes().split(b"\n"))
    try:
        rep = validate_file(path, fmt=fmt, model="gpt-4o-mini")
    except ChatsynthError as err:
        msg = str(err)
        assert "\n" not in msg and str(path) in msg, msg
        outcome = "error"
    else:
        for f in rep.findings:
            assert f.line is None or 1 <= f.line <= nlines, (f, nlines)
            assert f.message and "\n" not in f.message, f
            assert f.severity in ("error", "warning")
        assert rep.ok == (not rep.errors)
        assert 0 <= rep.examples <= nlines
        assert all(1 <= n <= nlines for n in rep.invalid_lines)
        text = rep.text()
        assert text.startswith(str(path)), text[:200]
        json.dumps(rep.to_dict(), ensure_ascii=False)  # --json never fails either
        outcome = "ok" if rep.ok else "findings"
    assert _fingerprint(path) == before, "validate changed the file"
    return outcome


@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_the_unmutated_seeds_are_valid(kind, tmp_path):
    p = tmp_path / f"{kind}.jsonl"
    p.write_bytes(SEEDS[kind])
    rep = validate_file(p, model="gpt-4o-mini")
    assert rep.ok and rep.examples == 12 and rep.format == kind, rep.text()


@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_mutated_files_give_a_report_or_a_clear_error(kind, tmp_path_factory):
    outcomes: list[str] = []

    @SETTINGS
    @given(data=mutated(SEEDS[kind]), fmt=st.sampled_from([None, None, "chat", "sharegpt",
                                                            "completion"]))
    def check(data, fmt):
        d = tmp_path_factory.mktemp("fz")
        p = d / "train.jsonl"
        p.write_bytes(data)
        os.chmod(p, 0o640)
        outcomes.append(_check_report_or_error(p, fmt))

    check()
    # the mutations must actually break things most of the time, or they test nothing
    assert outcomes.count("findings") >= len(outcomes) // 3, outcomes[:20]


@SETTINGS
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_any_bytes_file_gives_a_report(tmp_path_factory, chunks):
    p = tmp_path_factory.mktemp("fzb") / "any.jsonl"
    p.write_bytes(b"\n".join(chunks))
    _check_report_or_error(p)


# -- files that are not files, and shapes that break parsers ------------------------------------

def _nasty(tmp: Path) -> dict[str, Path]:
    out = {}

    def w(name: str, data: bytes) -> None:
        (tmp / name).write_bytes(data)
        out[name] = tmp / name

    w("empty.jsonl", b"")
    w("blank-lines.jsonl", b"\n\n   \n")
    w("array.jsonl", b"[" + b",".join(json.dumps(_chat(i)).encode() for i in range(3)) + b"]")
    w("binary.jsonl", bytes(range(256)) * 40)
    w("utf16.jsonl", SEEDS["chat"].decode().encode("utf-16"))
    w("one-huge-line.jsonl", b'{"messages": [{"role": "user", "content": "' + b"x " * 400_000
      + b'"}, {"role": "assistant", "content": "ok?"}]}\n')
    w("no-newline-at-end.jsonl", SEEDS["chat"].rstrip(b"\n"))
    w("nul-in-line.jsonl", SEEDS["chat"].replace(b"Eve", b"E\x00ve", 1))
    w("lone-surrogate.jsonl", SEEDS["chat"].replace(b"Eve", b"\\ud800Eve", 1))
    w("numbers.jsonl", b'{"messages": [{"role": "user", "content": 1e999}]}\n'
      + b'{"messages": [{"role": "user", "content": "x", "weight": ' + b"9" * 5000 + b"}]}\n")
    w("nested-50.jsonl", b'{"messages": ' + b"[" * 50 + b"]" * 50 + b"}\n")
    (tmp / "a-folder.jsonl").mkdir()
    out["a-folder.jsonl"] = tmp / "a-folder.jsonl"
    out["missing.jsonl"] = tmp / "missing.jsonl"
    unreadable = tmp / "unreadable.jsonl"
    unreadable.write_bytes(SEEDS["chat"])
    unreadable.chmod(0)
    if os.geteuid() != 0:  # root reads it anyway
        out["unreadable.jsonl"] = unreadable
    return out


def test_nasty_files_in_process(tmp_path):
    for name, p in _nasty(tmp_path).items():
        if p.exists() and p.is_file():
            assert _check_report_or_error(p) in ("ok", "findings", "error"), name
        else:
            with pytest.raises(ChatsynthError) as ei:
                validate_file(p)
            assert str(p) in str(ei.value) and "\n" not in str(ei.value), name


def test_deep_nesting_is_a_finding_not_a_crash(tmp_path):
    """JSON nested deeper than Python's recursion limit on one line (and a whole-file array)."""
    for name, data in (("deep.jsonl", b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
                        + SEEDS["chat"]), ("deep-array.jsonl", b"[" * 100_000 + b"]" * 100_000)):
        p = tmp_path / name
        p.write_bytes(data)
        assert _check_report_or_error(p) == "findings"


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "synth.cli.main", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.timeout(180)
def test_chatsynth_validate_subprocess_never_tracebacks(tmp_path):
    files = _nasty(tmp_path)
    # and a few mutated ones, fixed by seed so a failure repeats
    import random

    rng = random.Random(7)
    for k in range(4):
        data = bytearray(SEEDS[rng.choice(sorted(SEEDS))])
        for _ in range(5):
            i = rng.randrange(len(data))
            data[i:i + rng.randrange(1, 30)] = rng.choice(_INSERTS)
        (tmp_path / f"mut{k}.jsonl").write_bytes(bytes(data))
        files[f"mut{k}.jsonl"] = tmp_path / f"mut{k}.jsonl"
    deep = tmp_path / "deep.jsonl"
    deep.write_bytes(b"[" * 100_000 + b"]" * 100_000 + b"\n")
    files["deep.jsonl"] = deep
    for name in ("nul-in-line.jsonl", "no-newline-at-end.jsonl", "numbers.jsonl", "nested-50.jsonl",
                 "blank-lines.jsonl"):  # covered in process; keep the subprocess part short
        files.pop(name, None)
    problems: list[str] = []
    befores = {name: _fingerprint(p) if p.is_file() else None for name, p in files.items()}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        results = dict(zip(files, pool.map(lambda p: _cli("validate", str(p)), files.values())))
    for name, p in files.items():
        before = befores[name]
        r = results[name]
        out = r.stdout + r.stderr
        if "Traceback" in out or r.returncode not in (0, 1, 2):
            problems.append(f"{name}: exit {r.returncode}: {out[-300:]}")
            continue
        if r.returncode == 2:
            lines = r.stderr.strip().splitlines()
            if len(lines) != 1 or not lines[0].startswith("chatsynth: error:") or str(p) not in lines[0]:
                problems.append(f"{name}: unclear error: {r.stderr[-300:]}")
        elif str(p) not in r.stdout:
            problems.append(f"{name}: the report does not name the file")
        if before is not None and _fingerprint(p) != before:
            problems.append(f"{name}: changed by validate")
    assert problems == [], "\n".join(problems)
