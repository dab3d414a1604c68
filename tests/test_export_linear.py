"""An export's work grows linearly with the run, counted without a clock: the index entries it
builds (dc5c4a2: the first pass asked ``RunIndex.entries``, which builds every entry, once per
conversation, so a 100,000 run built 10^10 of them and never finished) and the texts it hands
the tokenizer (each turn once; the persona's system prompt once, not once per example)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from synth.dataset import runindex
from synth.dataset.export import ExportOptions, export_run
from synth.dataset.store import Store

REPO = Path(__file__).resolve().parent.parent


def _make_store():
    spec = importlib.util.spec_from_file_location("bench_export", REPO / "bench" / "bench_export.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod.make_store


def _counted(monkeypatch, tmp_path: Path, n: int) -> tuple[int, int]:
    """(index entries built, texts encoded) by exporting a run of ``n`` conversations."""
    from synth.tokens import counter_for

    store, run_id, _ = _make_store()(tmp_path / f"runs{n}", n)
    built = [0]
    real_init = runindex.Entry.__init__

    def counting_init(self, *a, **kw):
        built[0] += 1
        real_init(self, *a, **kw)

    enc = counter_for("gpt-4o-mini").enc
    encoded = [0]
    real_encode = type(enc).encode_ordinary

    def counting_encode(self, text):
        encoded[0] += 1
        return real_encode(self, text)

    monkeypatch.setattr(runindex.Entry, "__init__", counting_init)  # counts, then the real one
    monkeypatch.setattr(type(enc), "encode_ordinary", counting_encode)
    try:
        res = export_run(Store(tmp_path / f"runs{n}", fsync_interval=3600), run_id,
                         tmp_path / f"out{n}", ExportOptions(formats=("chat", "sharegpt")))
    finally:
        monkeypatch.undo()
    assert sum(res.examples.values()) == 2 * n  # every conversation, in both formats
    return built[0], encoded[0]


@pytest.mark.parametrize("n", [40])
def test_export_work_is_linear_in_the_run(monkeypatch, tmp_path, n):
    small_entries, small_texts = _counted(monkeypatch, tmp_path, n)
    big_entries, big_texts = _counted(monkeypatch, tmp_path, 2 * n)
    # three reads of each conversation at most (check, near-duplicate check, export)
    assert small_entries <= 3 * n, small_entries
    assert big_entries <= 2 * small_entries + 4, (small_entries, big_entries)
    # each turn once (6-10 a conversation), plus a few distinct strings (system prompt, roles):
    # not the turns again for the second format, not the system prompt per example
    assert small_texts <= 10 * n + 8, small_texts
    assert big_texts <= 2 * small_texts + 8, (small_texts, big_texts)
