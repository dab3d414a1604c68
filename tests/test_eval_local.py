"""`chatsynth eval` on the embedded model for real (llama.cpp, Gemma 3 270M): an export's
validation openings answered prompted (completion style, the persona's synthesis prompt) and
finetuned (only the system prompt, chat messages), end to end in a CLI subprocess."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

from data.factory import make_run

if importlib.util.find_spec("llama_cpp") is None and not os.environ.get("CI"):
    pytest.skip("llama-cpp-python is not installed (make test installs it)", allow_module_level=True)

pytestmark = pytest.mark.local_model


def test_eval_prompted_vs_finetuned_on_the_embedded_model(workspace, cli, tmp_path):
    make_run(workspace.runs_dir, n_topics=10, per_topic=1)
    exp = tmp_path / "exp"
    r = cli("export", "latest", "--out", str(exp), "--allow-invalid")
    assert (exp / "chat.validation.jsonl").is_file(), r.stderr
    out = tmp_path / "ev"
    r = cli("eval", str(exp), "--a", "local:prompted", "--b", "local:finetuned", "--limit", "2",
            "--max-tokens", "40", "--concurrency", "1", "--out", str(out), timeout=600)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    rep = json.loads((out / "eval.json").read_text())
    assert len(rep["openings"]) == 2 and len(rep["answers"]) == 4
    for c in rep["contestants"]:
        assert c["answered"] == 2 and c["failed"] == 0 and c["completion_tokens"] > 0
        assert c["cost_usd"] == 0.0  # the embedded model is free
    assert "every rule" in r.stdout and (out / "eval.md").is_file()
