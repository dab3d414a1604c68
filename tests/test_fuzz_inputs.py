"""Bad-input fuzzing: any persona, topic, config or store file gives a result or a clear error
naming the file, never a traceback, and never changes or loses what was stored."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synth.errors import ChatsynthError
from synth.library.personas import load_persona
from synth.library.topics import load_topic_source
from synth.dataset.store import Store
from synth.library.workspace import DEFAULT_CONFIG, parse_config

REPO = Path(__file__).resolve().parent.parent
EVE = (REPO / "personas" / "eve.yaml").read_bytes()
BANK_TOPICS = (REPO / "topics" / "bank-support.yaml").read_bytes()
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def mutated(draw, original: bytes):
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "dupline", "swapline"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 40))]
        elif op == "insert":
            data[i:i] = draw(st.sampled_from([b":", b"- ", b"{", b"'", b"\t", b"\n  x: 1\n", b"&a *a",
                                              b"!!python/object:os.system", b"\xff\xfe", b"{bad}"]))
        elif op == "truncate":
            data = data[:i]
        else:
            lines = bytes(data).split(b"\n")
            j = draw(st.integers(0, len(lines) - 1))
            if op == "dupline":
                lines.insert(j, lines[j])
            else:
                k = draw(st.integers(0, len(lines) - 1))
                lines[j], lines[k] = lines[k], lines[j]
            data = bytearray(b"\n".join(lines))
    return bytes(data)


def _check_error(err: ChatsynthError, path: Path) -> None:
    msg = str(err)
    assert str(path) in msg, f"error does not name the file: {msg}"
    assert "\n" not in msg.strip() and len(msg) < 600


@SETTINGS
@given(data=mutated(EVE))
def test_fuzz_persona(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("p") / "eve.yaml"
    path.write_bytes(data)
    try:
        load_persona(path)
    except ChatsynthError as err:
        _check_error(err, path)
    assert path.read_bytes() == data


@SETTINGS
@given(data=st.one_of(mutated(BANK_TOPICS), st.binary(max_size=300),
                      st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass"))))
def test_fuzz_topics(tmp_path_factory, data):
    d = tmp_path_factory.mktemp("t")
    for name in ("t.yaml", "t.txt"):
        path = d / name
        path.write_bytes(data)
        try:
            src = load_topic_source(path)
            assert all(t.text.strip() for t in src.topics)  # an empty list is valid (a new one)
        except ChatsynthError as err:
            _check_error(err, path)


@SETTINGS
@given(data=mutated(DEFAULT_CONFIG.encode()))
def test_fuzz_config(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("c") / "chatsynth.yaml"
    path.write_bytes(data)
    try:
        parse_config(path)
    except ChatsynthError as err:
        _check_error(err, path)


def _good_log(run_id: str) -> bytes:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from store_writer import make_conversation

    head = json.dumps({"chatsynth": "conversations", "format": 1, "run_id": run_id}) + "\n"
    lines = [json.dumps(make_conversation(run_id, i, size=80).to_dict()) + "\n" for i in range(3)]
    return (head + "".join(lines)).encode()


RUN = "fuzzrun000001"
LOG = _good_log(RUN)


@SETTINGS
@given(data=st.one_of(mutated(LOG), st.binary(max_size=400)))
def test_fuzz_store_file(tmp_path_factory, data):
    store = Store(tmp_path_factory.mktemp("runs"))
    path = store.conversations_path(RUN)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    try:
        res = store.load(RUN)
        for problem in res.problems:
            assert str(path) in problem
    except ChatsynthError as err:
        _check_error(err, path)
    # nothing is lost: what is in the log plus what was set aside is what was there
    kept = path.read_bytes()
    qdir = path.parent / "quarantine"
    aside = b"".join(p.read_bytes() for p in sorted(qdir.iterdir())) if qdir.exists() else b""
    assert kept + aside == data
