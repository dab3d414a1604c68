"""The Library's live preview, beside the persona form: the synthesis prompt rendered for a
chosen topic (the exact text or chat messages that will be sent, with its token count), and one
sample conversation written from the form's current values, streamed in, with the filters'
verdict under it (and the judge's, when it is on), and the samples kept so far listed per
persona version (k keeps one as a few-shot example, m moves one into a run).

A widget only: the Library screen (``tui.screens.library_preview``) fills it through
``tui.services``; nothing here calls an endpoint or reads a file.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import OptionList, Select, Static
from textual.widgets.option_list import Option


class SampleList(OptionList):
    BINDINGS = [Binding("k", "screen.keep_sample", "Keep as example"),
                 Binding("m", "screen.move_sample", "Move into a run")]


def _prompt_text(prompt: Any) -> Text:
    if prompt.style == "chat":
        out = Text()
        for m in prompt.messages:
            out.append(f"[{m['role']}]\n", style="bold")
            out.append(str(m["content"]) + "\n")
        return out
    return Text(prompt.text)


def verdict_text(verdict: Any) -> Text:
    if verdict.ok:
        return Text("✓ filters: pass", style="green")
    lines = [f"✗ {r.rule}: {r.message}" for r in verdict.reasons]
    return Text("\n".join(lines), style="red")


def judge_text(j: Any) -> Text:
    """One line: the judge's scores, the lowest against the threshold, pass or fail, its cost."""
    if j.failed:
        return Text(f"✗ judge failed: {j.error}", style="red")
    scores = " · ".join(f"{k} {v}/5" for k, v in j.scores.items())
    cost = "cost ?" if j.cost is None else f"${j.cost:.4f}"
    low = j.score
    mark, style = ("✓ pass", "green") if j.passed else ("✗ fail", "red")
    return Text(f"judge {j.model}: {mark} · lowest {low:g} (needs {j.threshold:g}) · {scores}"
                f" · {cost}", style=style)


def turns_text(conv: Any, user_label: str, persona_label: str) -> Text:
    out = Text()
    for t in conv.turns:
        who = persona_label if t.role == "assistant" else user_label
        out.append(f"{who}: ", style="bold")
        out.append(t.text.strip() + "\n")
    return out


class PreviewPane(Vertical):
    """Prompt, token count, sample and verdict for the persona being edited."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.topics: list = []
        self.samples: list = []  # synth.dataset.preview.Sample, as listed
        self.raw = ""

    def compose(self) -> ComposeResult:
        yield Static("Preview  (F5 writes a sample)", classes="pane-title", id="preview-title")
        yield Select([], prompt="topic", allow_blank=True, id="preview-topic", compact=True)
        yield Static("", id="preview-tokens", classes="status-line")
        with VerticalScroll(id="preview-prompt-box"):
            yield Static("", id="preview-prompt")
        yield Static("F5 writes one sample on this topic from the form as it is (saved or not)",
                     id="preview-state", classes="status-line muted")
        with VerticalScroll(id="preview-sample-box"):
            yield Static("", id="preview-sample")
            yield Static("", id="preview-verdict")
        yield SampleList(id="preview-list")

    # -- the topic -------------------------------------------------------------------------
    def set_topics(self, topics: list, source_id: str | None) -> None:
        """The persona's topic list; keeps the chosen topic when it is still there."""
        sel = self.query_one("#preview-topic", Select)
        keep = sel.value if isinstance(sel.value, int) and sel.value < len(topics) else 0
        if [t.id for t in topics] == [t.id for t in self.topics]:
            return
        self.topics = list(topics)
        with self.prevent(Select.Changed):
            sel.set_options([(t.text[:60], i) for i, t in enumerate(self.topics)])
            if self.topics:
                sel.value = keep if [t.id for t in topics][keep:keep + 1] else 0
        sel.tooltip = f"topics of {source_id}" if source_id else None

    @property
    def topic(self):
        sel = self.query_one("#preview-topic", Select)
        if not self.topics:
            return None
        idx = sel.value if isinstance(sel.value, int) else 0
        return self.topics[min(idx, len(self.topics) - 1)]

    # -- the prompt ------------------------------------------------------------------------
    def show_prompt(self, prompt: Any, tokens: int, encoding: str) -> None:
        n_ex = len(prompt.examples)
        ex = f" · {n_ex} example{'s' if n_ex != 1 else ''}" if n_ex else ""
        self._line("#preview-tokens", f"{tokens} prompt tokens ({encoding}) · {prompt.style}{ex}",
                   "muted")
        self.query_one("#preview-prompt", Static).update(_prompt_text(prompt))
        box = self.query_one("#preview-prompt-box", VerticalScroll)  # the topic and the last
        self.call_after_refresh(box.scroll_end, animate=False)  # label: what an edit changes

    def show_problem(self, message: str) -> None:
        """An invalid form (or no topic): what is wrong, instead of a prompt."""
        self._line("#preview-tokens", f"✗ {message}", "bad")
        self.query_one("#preview-prompt", Static).update("")

    # -- the sample ------------------------------------------------------------------------
    def sample_started(self, topic: str) -> None:
        self.raw = ""
        self._line("#preview-state", f"● writing a sample on “{topic[:50]}”…", "warn")
        self.query_one("#preview-sample", Static).update("")
        self.query_one("#preview-verdict", Static).update("")

    def state(self, text: str, kind: str = "muted") -> None:
        self._line("#preview-state", text, kind)

    def add_text(self, text: str) -> None:
        self.raw += text
        self.query_one("#preview-sample", Static).update(Text(self.raw))
        self.query_one("#preview-sample-box", VerticalScroll).scroll_end(animate=False)

    def show_sample(self, sample: Any, user_label: str, persona_label: str,
                    judge_note: str | None = None) -> None:
        """The sample's turns, the filters' verdict, then the judge's (or ``judge_note``: why
        the judge is off, muted, or why it failed)."""
        conv = sample.conversation
        self.query_one("#preview-sample", Static).update(
            turns_text(conv, user_label, persona_label))
        out = verdict_text(sample.verdict)
        if sample.judgement is not None:
            out.append("\n")
            out.append_text(judge_text(sample.judgement))
        elif judge_note:
            out.append("\n" + judge_note, style="red" if judge_note.startswith("✗") else "dim")
        self.query_one("#preview-verdict", Static).update(out)
        box = self.query_one("#preview-sample-box", VerticalScroll)  # the verdicts in sight
        self.call_after_refresh(box.scroll_end, animate=False)

    def list_samples(self, samples: list, version: str) -> None:
        """The samples of this persona, this version's first, each version headed by its hash."""
        self.samples = sorted(samples, key=lambda s: s.version != version)
        box = self.query_one(SampleList)
        box.clear_options()
        opts: list = []
        last = None
        for i, s in enumerate(self.samples):
            if s.version != last:
                here = "this version" if s.version == version else "an earlier version"
                mine = sum(1 for x in self.samples if x.version == s.version)
                opts.append(Option(Text(f"{here} {s.version[:8]} · {mine}", style="bold"),
                                   disabled=True))
                last = s.version
            mark = "✓" if s.verdict.ok else "✗"
            part = " (partial)" if s.conversation.status == "partial" else ""
            j = s.judgement
            judged = "" if j is None else (" · judge ✗" if j.failed else
                                           f" · judge {'✓' if j.passed else '✗'} {j.score:g}")
            topic = s.conversation.topic[:30 if judged else 40]
            opts.append(Option(f"{mark} {topic}{part}{judged}", id=str(i)))
        if not opts:
            opts.append(Option(Text("no samples yet", style="dim"), disabled=True))
        box.add_options(opts)

    def chosen_sample(self):
        box = self.query_one(SampleList)
        if box.highlighted is None:
            return None
        opt = box.get_option_at_index(box.highlighted)
        return self.samples[int(opt.id)] if opt.id is not None else None

    def _line(self, sel: str, text: str, kind: str) -> None:
        st = self.query_one(sel, Static)
        st.update(Text(text))
        st.set_classes(f"status-line {kind}")
