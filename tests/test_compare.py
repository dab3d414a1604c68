"""`chatsynth compare A B`: two runs side by side on the topics they share, through the real CLI
against the loopback fault server: the figures, what differs, the pairs, and bad input."""

from __future__ import annotations

import json

from synth.dataset.store import Store


def stored_run(r) -> str:
    assert r.returncode == 0, r.stderr
    path = next(ln.split("stored in:")[1].strip() for ln in r.stdout.splitlines() if "stored in:" in ln)
    return path.rstrip("/").split("/")[-2]


def two_runs(cli, ws, fs) -> tuple[str, str]:
    """Run A: eve on 6 of the short topics.  Run B: eve with another system prompt, at another
    temperature, on the first 4 of them."""
    a = stored_run(cli("run", "--persona", "eve", "--topics", "short", "--limit", "6",
                       "--base-url", fs.url, "-q"))
    path = ws.personas_dir / "eve.yaml"
    text = path.read_text()
    assert "system_prompt:" in text
    path.write_text(text.replace("system_prompt: ", "system_prompt: Version two. ", 1)
                    if "system_prompt: |" not in text else
                    text.replace("system_prompt: |\n", "system_prompt: |\n  Version two.\n", 1))
    b = stored_run(cli("run", "--persona", "eve", "--topics", "short", "--limit", "4",
                       "--temperature", "0.5", "--base-url", fs.url, "-q"))
    assert a != b
    return a, b


def test_compare_two_versions_of_a_persona(cli, ws, fs, tmp_path):
    a, b = two_runs(cli, ws, fs)
    store = Store(ws.runs_dir)
    # one of B's conversations loses its first (user) turn: flagged by the order rule
    cid = sorted(e for e in store.finished_ids(b))[0]
    r = cli("review", b, "--edit", cid, "--remove-turn", "1")
    assert r.returncode == 0, r.stderr
    r = cli("compare", a, b, "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["shared_topics"] == 4 and got["only_a"] == 2 and got["only_b"] == 0
    assert got["a"]["conversations"] == 4 and got["b"]["conversations"] == 4  # shared topics only
    assert got["b"]["passing"] == got["a"]["passing"] - 1
    assert got["b"]["flagged_by_rule"].get("order") == 1
    assert not got["a"]["flagged_by_rule"].get("order")
    assert got["settings"] == [{"setting": "temperature", "a": 0.8, "b": 0.5}]
    assert any(ln.startswith("+") and "Version two." in ln for ln in got["persona_diff"])
    assert any(" system_prompt" in ln for ln in got["persona_diff"]), got["persona_diff"]
    assert [p["b"] == cid for p in got["pairs"]].count(True) == 1
    assert all(0 < x["distinct_2"] <= 1 for x in (got["a"], got["b"]))
    # the table, and the Markdown report with every pair side by side
    out = tmp_path / "cmp.md"
    r = cli("compare", a[:12], b, "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "On the 4 topics both runs wrote (2 only in A, 0 only in B, left out):" in r.stdout
    assert "flagged by order" in r.stdout and "temperature 0.8 -> 0.5" in r.stdout
    assert "Version two." in r.stdout
    md = out.read_text()
    assert md.startswith(f"# {a} vs {b}") and md.count("\n### short topic ") == 4
    assert "```diff" in md and f"*{cid}: flagged: order" in md
    r = cli("compare", a, b, "--out", str(out), "--pairs", "1")
    assert r.returncode == 0 and out.read_text().count("\n### short topic ") == 1


def test_compare_bad_input_is_one_clear_line(cli, ws, fs, tmp_path):
    a, b = two_runs(cli, ws, fs)
    (ws.topics_dir / "other.txt").write_text("a topic of its own\nand another\n")
    c = stored_run(cli("run", "--persona", "eve", "--topics", "other", "--base-url", fs.url, "-q"))
    for args, says in (((a, a), "are the same run"),
                       ((a, c), "have no topic in common"),
                       ((a, "nosuchrun"), "no run 'nosuchrun'"),
                       ((a, b, "--pairs", "-1"), "--pairs: must be 0 or more"),
                       ((a, b, "--out", str(tmp_path)), "is a folder")):
        r = cli("compare", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and says in r.stderr, (args, r.stderr)
