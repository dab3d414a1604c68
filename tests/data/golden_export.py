"""A small stored run with every kind of conversation an export meets (refused, flagged,
accepted while flagged, rejected, edited, partial, a record stored twice, near-duplicates,
estimated usage, a re-trim), and its export normalised for comparing byte for byte with
``tests/data/export_golden/`` (written by the in-memory export before it streamed)."""

from __future__ import annotations

import json
from pathlib import Path

from data.factory import GOOD, make_run, turns, varied_turns
from synth.models import Usage

GOLDEN = Path(__file__).parent / "export_golden"


def _extra(i, k):
    if i == 0 and k == 0:  # a refusal: flagged
        return turns("Can you help me plan my week?", "I'm sorry, but I can't help with that.",
                     "Oh. Why not?", "As an AI language model I cannot plan weeks. Anything else?")
    if i == 1 and k == 1:  # cut off by a cancel
        return turns("I want to sleep better at night, honestly.", "What time do you go to bed?"), "partial"
    if i in (2, 3) and k == 0:  # two near-copies of one text: the later one is flagged
        return turns(*GOOD)
    if i == 4 and k == 0:  # a secret: refused by the export's checks
        return turns("My key is sk-proj-ABCDEFGHIJKLMNOPQRSTUV1234 - is that safe to share?",
                     "Please never share it. Could you rotate it today?",
                     "Yes, I will rotate it.", "Good. Shall we set a reminder to check tomorrow?")
    if i == 5:  # usage counted here, not by the server
        return {"turns": varied_turns(i, k), "usage": Usage(0, 0, "estimate"), "cost": None}
    if i == 6 and k == 1:  # repeats a line: flagged
        return turns("I feel stuck with my morning routine lately.",
                     "Let us look at the morning routine together. What happens first?",
                     "I wake up late and rush out.",
                     "Let us look at the morning routine together. What happens first?")
    return None


def golden_run(runs_dir: Path):
    """(store, run_id): the stored run with its decisions, edit and re-trim."""
    from synth.curate.review import Review

    store, run_id, _ = make_run(runs_dir, n_topics=14, per_topic=2, extra=_extra)
    with store.writer(run_id) as w:  # topic 7 stored again, partial: the complete one stays
        conv = store.load(run_id).conversations[7]
        conv.status = "partial"
        w.append(conv)
    review = Review(store, run_id)
    rs = review.load()
    ids = [it.id for it in rs.items]
    flagged = next(it.id for it in rs.items if it.state == "flagged")
    review.accept(flagged)
    review.reject(ids[9])
    review.edit(ids[10], turns("Edited opening line about a walk?",
                               "Edited reply: walk ten minutes. When can you?", "After lunch.",
                               "Good, after lunch it is. Shall we check in Friday?"))
    review.set_retrim(["\n\nNOPE:"])
    return store, run_id


def normalised(out_dir: Path) -> dict[str, str]:
    """Each file of an export folder by name; report.json without its timing and folder."""
    out = {}
    for p in sorted(Path(out_dir).iterdir()):
        text = p.read_text(encoding="utf-8").replace(str(out_dir), "OUT")
        if p.name == "report.json":
            rep = json.loads(text)
            rep["export_seconds"] = 0
            text = json.dumps(rep, indent=1, ensure_ascii=False) + "\n"
        out[p.name] = text
    return out
