"""`validate_file` reads a file a batch of lines at a time: the same report as checking all of
its lines at once (``validate_lines``), whatever the batch size and wherever the lines fall."""

from __future__ import annotations

import pytest

from synth.dataset import validate as V

CHAT = (b'{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello?"}]}\n')
CASES = {
    "empty": b"",
    "blank lines": b"\n\n",
    "bom": b"\xef\xbb\xbf" + CHAT * 3,
    "array": b'  [{"messages": []}]\n',
    "crlf": b"\r\n" + CHAT.replace(b"\n", b"\r\n") * 2,
    "no final newline": CHAT * 2 + b'{"prompt":"a","completion":"b"}',
    "broken lines": b'{"a":1,"a":2}\nnot json\n\n' + CHAT + b"NaN\n\xff\xfe\n",
    # the format is told by the first object, 5,000 lines in; past the first 64 KiB read
    "late format": b"3\n" * 5000 + b'{"prompt":"x","completion":" y"}\n' * 3000 + b"\r\rzz\n",
    "chat": CHAT * 40 + b'{"messages":[{"role":"User","content":"x"}]}\n' + CHAT * 3,
}


def _whole(path, **kw):
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return V._json_array(path, data, kw.get("fmt")) or V.validate_lines(
        V.split_lines(data), path=str(path), **kw)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("batch", [1, 7, 2000])
def test_streamed_file_check_matches_whole_file_check(tmp_path, monkeypatch, name, batch):
    monkeypatch.setattr(V, "BATCH", batch)
    path = tmp_path / "data.jsonl"
    path.write_bytes(CASES[name])
    for kw in ({}, {"fmt": "chat"}, {"model": "gpt-4o-mini"}):
        assert V.validate_file(path, **kw).to_dict() == _whole(path, **kw).to_dict(), kw


def test_distinct_pairs_merged_in_batches_count_exactly():
    from synth.dataset import report_tally as rt

    texts = [f"w{i % 17} w{i % 5} w{i % 3} the end" for i in range(400)] + ["", "one"]
    words = [rt._WORDS.findall(t.lower()) for t in texts]
    pairs = [p for w in words for p in zip(w, w[1:])]
    want = len(set(pairs)) / len(pairs)
    d = rt.Distinct2()
    d.CHUNK, d.BATCH = 7, 50  # many chunks, many merges
    for t in texts:
        d.add(t)
    assert d.value() == want


def test_distinct_pairs_merge_a_part_at_a_time():
    """A merge copies one part of the pairs seen, not the whole set: the set is held in
    ``PARTS`` sorted arrays that together hold each distinct pair once."""
    from synth.dataset import report_tally as rt

    if rt._np is None:
        return
    d = rt.Distinct2()
    d.CHUNK, d.BATCH = 64, 256
    texts = [" ".join(f"w{(i * 7 + j * 13) % 997}" for j in range(12)) for i in range(3000)]
    for t in texts:
        d.add(t)
    d.value()
    words = [rt._WORDS.findall(t.lower()) for t in texts]
    distinct = len({p for w in words for p in zip(w, w[1:])})
    sizes = [len(p) for p in d._seen]
    assert len(sizes) == d.PARTS and sum(sizes) == distinct
    assert max(sizes) < distinct / 4, sizes  # no part near the whole set
