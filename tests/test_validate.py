"""`validate`: the cookbook checks and ours, each finding by line number."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import tiktoken

from synth.dataset.validate import quantile, validate_file, validate_lines

DATA = Path(__file__).parent / "data"
SYS = {"role": "system", "content": "You are Eve."}


def good(i: int) -> dict:
    return {"messages": [SYS, {"role": "user", "content": f"question {i}?"},
                         {"role": "assistant", "content": f"answer number {i}, and a question?"}]}


def write(tmp_path: Path, rows: list, name: str = "train.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p


def test_broken_lines_each_get_the_right_error_by_line():
    expected = json.loads((DATA / "broken_lines.expected.json").read_text())
    assert len(expected) >= 30
    faults = (DATA / "broken_lines.jsonl").read_bytes().split(b"\n")[:-1]
    assert len(set(faults)) == len(faults)  # each line a different fault
    r = validate_file(DATA / "broken_lines.jsonl", model="gpt-3.5-turbo")
    by_line: dict[int, list[str]] = {}
    for f in r.findings:
        if f.severity == "error":
            by_line.setdefault(f.line, []).append(f.code)
    for e in expected:
        assert by_line.get(e["line"], [None])[0] == e["code"], (e, by_line.get(e["line"]))
    assert set(by_line) == {e["line"] for e in expected}  # no error lands on a wrong line
    assert r.invalid_lines == [e["line"] for e in expected]
    assert not r.ok and r.examples >= 10


def test_toy_file_reports_exactly_its_problems():
    r = validate_file(DATA / "toy_chat_fine_tuning.jsonl", model="gpt-4o-mini")
    got = [(f.line, f.code, f.severity) for f in r.findings]
    assert got == [(3, "missing_user", "warning"), (6, "too_long", "error"),
                   (9, "missing_system", "warning")]
    assert "over the 65,536-token limit" in r.findings[1].message
    assert r.examples == 12 and len(r.errors) == 1


def test_distribution_matches_independent_count():
    enc = tiktoken.get_encoding("o200k_base")
    rows = [good(i) for i in range(15)]
    rows[3]["messages"] += [{"role": "user", "content": "more " * 30}, {"role": "assistant", "content": "ok " * 50}]
    r = validate_lines([json.dumps(x).encode() for x in rows], model="gpt-4o")
    totals = sorted(3 + sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"]))
                            for m in x["messages"]) for x in rows)
    d = r.distributions["tokens per example"]
    assert (d.min, d.max) == (totals[0], totals[-1])
    assert d.median == statistics.median(totals)
    assert d.p10 == pytest.approx(quantile(totals, 0.1)) and d.p90 >= d.median
    asst = r.distributions["assistant tokens per example"]
    assert asst.max == len(enc.encode("answer number 3, and a question?")) + len(enc.encode("ok " * 50))
    assert r.distributions["messages per example"].max == 5
    assert sorted(r.example_tokens) == totals


def test_quantile_is_numpy_linear():
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantile([10, 20, 30, 40, 50], 0.1) == pytest.approx(14.0)
    assert quantile([7], 0.9) == 7


def test_json_array_file(tmp_path):
    p = tmp_path / "train.jsonl"
    p.write_text(json.dumps([good(i) for i in range(12)], indent=2))
    r = validate_file(p)
    assert [(f.line, f.code) for f in r.findings] == [(1, "json_array")]
    assert "one JSON array of 12 items" in r.findings[0].message


def test_empty_file_and_too_few(tmp_path):
    p = tmp_path / "train.jsonl"
    p.write_text("")
    assert [f.code for f in validate_file(p).findings] == ["empty_file"]
    r = validate_file(write(tmp_path, [good(i) for i in range(9)]))
    assert [(f.code, f.severity) for f in r.findings] == [("too_few_examples", "error")]
    r = validate_file(write(tmp_path, [good(i) for i in range(3)], "validation.jsonl"))
    assert [(f.code, f.severity) for f in r.findings] == [("too_few_examples", "warning")]


def test_clean_file_has_no_findings_and_crlf_bom_are_fine(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + b"".join(json.dumps(good(i)).encode() + b"\r\n" for i in range(10)))
    r = validate_file(p)
    assert r.findings == [] and r.ok and r.examples == 10


def test_sharegpt_checks(tmp_path):
    ok = {"conversations": [{"from": "system", "value": "You are Eve."}, {"from": "human", "value": "hi"},
                            {"from": "gpt", "value": "hello?"}]}
    rows = [ok] * 10 + [
        {"conversations": [{"from": "human", "value": "hi"}, {"from": "human", "value": "again"},
                           {"from": "gpt", "value": "x"}]},
        {"conversations": [{"from": "human", "value": "hi"}]},
        {"conversations": [{"from": "user", "value": "hi"}, {"from": "gpt", "value": "x"}]},
        {"conversations": [{"from": "human", "value": ""}, {"from": "gpt", "value": "x"}]},
        {"conversations": "hi"},
    ]
    r = validate_file(write(tmp_path, rows))
    assert r.format == "sharegpt"
    assert [(f.line, f.code) for f in r.errors] == [(11, "bad_order"), (12, "missing_gpt_last"),
                                                    (13, "unrecognized_from"), (14, "empty_value"),
                                                    (15, "conversations_not_list")]


def test_completion_checks(tmp_path):
    rows = [{"prompt": f"USER: q{i}\n\nEVE:", "completion": f" a{i}\n\nUSER:"} for i in range(10)]
    r = validate_file(write(tmp_path, rows))
    assert r.format == "completion" and r.findings == []
    rows += [{"prompt": "USER: x", "completion": ""}, {"prompt": 3, "completion": " y\n\nUSER:"},
             {"prompt": "USER: z\n\nEVE:"}, {"prompt": "USER: no separator", "completion": " b\n\nUSER:"}]
    r = validate_file(write(tmp_path, rows))
    assert [(f.line, f.code) for f in r.errors] == [(11, "empty_value"), (12, "not_string"), (13, "missing_key")]
    assert [f.code for f in r.warnings] == ["no_common_separator"]


@pytest.mark.parametrize("name,is_val", [("validation.jsonl", True), ("chat.val.jsonl", True),
                                         ("eval_set.jsonl", True), ("latest.jsonl", False),
                                         ("train.jsonl", False), ("devices.jsonl", False)])
def test_validation_file_names(tmp_path, name, is_val):
    r = validate_file(write(tmp_path, [good(i) for i in range(3)], name))
    assert [f.severity for f in r.findings] == ["warning" if is_val else "error"]


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["messages", "role", "content", "name", "weight", "function_call",
                         "conversations", "from", "value", "prompt", "completion", "x"]), inner, max_size=5),
    max_leaves=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_json, min_size=1, max_size=6), st.sampled_from([None, "chat", "sharegpt", "completion"]))
def test_any_json_lines_give_findings_never_a_crash(values, fmt):
    lines = [json.dumps(v) for v in values]
    r = validate_lines(lines, fmt=fmt, model="gpt-4o")
    assert all(f.line is None or 1 <= f.line <= len(lines) for f in r.findings)
    assert r.ok == (not r.errors)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=5))
def test_any_bytes_give_findings_never_a_crash(lines):
    lines = [ln.replace(b"\n", b" ") for ln in lines]
    r = validate_lines(lines, model="gpt-4o")
    assert not r.ok or all(ln.strip() for ln in lines)


def test_completion_tokens_are_plain_text_counts(tmp_path):
    enc = tiktoken.get_encoding("o200k_base")
    rows = [{"prompt": f"USER: question {i}?\n\nEVE:", "completion": f" answer {i}.\n\nUSER:"} for i in range(10)]
    r = validate_file(write(tmp_path, rows), model="gpt-4o")
    assert r.example_tokens == [len(enc.encode(x["prompt"])) + len(enc.encode(x["completion"])) for x in rows]
    assert r.distributions["completion tokens per example"].max == max(len(enc.encode(x["completion"])) for x in rows)
    assert "messages per example" not in r.distributions


def test_usual_messages_still_get_their_content_checks():
    """Messages of the usual shape (a role and a string content) take a short path through
    check_chat; an empty content, a lone surrogate or an API key in one is still found."""
    from synth.dataset.example_checks import check_chat

    def codes(content):
        ex = {"messages": [{"role": "system", "content": "You are Eve."},
                           {"role": "user", "content": "Hi"},
                           {"role": "assistant", "content": content}]}
        return [f.code for f in check_chat(ex, 1)]

    assert codes("Hello, how can I help?") == []
    assert codes("") == ["missing_content"]
    assert codes("ok \ud800 there") == ["invalid_unicode"]
    assert codes("my key is sk-" + "a" * 24) == ["secret"]
    assert codes("é and hf_" + "b" * 31) == ["secret"]
    assert codes("sk- hf_ but no key") == []
