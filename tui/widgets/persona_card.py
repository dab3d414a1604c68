"""A persona shown read-only: every field the form edits, laid out for reading.

The Library opens on this card and builds the (much heavier) form only when the user starts
editing, so the first screen is drawn quickly.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from synth.models import FilterRules, Persona
from tui.guard import Guarded
from synth.stops_text import escape_stop


def persona_text(p: Persona) -> Text:
    """The card's text: fields first, then the two prompts in full."""
    t = Text()
    if p.description:
        t.append(p.description + "\n\n")
    fields = (
        ("Labels", f"{p.persona_label} / {p.user_label}"),
        ("Style", p.style),
        ("Temperature", f"{p.temperature:g}"),
        ("Max tokens", str(p.max_tokens)),
        ("Stop sequences", "  ".join(f"“{escape_stop(s)}”" for s in p.stop) or "none"),
    )
    for label, value in fields:
        t.append(f"{label:<15}", style="dim")
        t.append(value + "\n")
    for label, body in (("System prompt (exported as the system message)", p.system_prompt),
                        ("Synthesis prompt", p.synthesis_prompt)):
        t.append(f"\n{label}\n", style="bold")
        t.append(body.rstrip("\n") + "\n")
    t.append("\nFilter rules (edited in the persona's YAML file, under rules:)\n", style="bold")
    t.append(rules_text(p.rules))
    return t


def rules_text(r: FilterRules) -> str:
    """The persona's aberration rules, one a line."""
    on_off = lambda flag: "on" if flag else "off"  # noqa: E731
    lines = [
        f"turns: {r.min_turns} to {r.max_turns}",
        f"alternation {on_off(r.alternation)} · empty turns {on_off(r.empty_turns)} · leaked labels "
        f"{on_off(r.leaked_labels)} · repeated lines {on_off(r.repeated_lines)} · refusals "
        f"{on_off(r.refusals)} · truncated {on_off(r.truncated)}",
        f"near-duplicates: {r.near_duplicates:g} similarity" if r.near_duplicates else "near-duplicates: off",
    ]
    for pat in r.patterns:
        parts = []
        if pat.require_any:
            parts.append(f"each {pat.applies_to} turn matches one of {len(pat.require_any)}")
        if pat.forbid:
            parts.append(f"none matches {len(pat.forbid)} forbidden")
        lines.append(f"{pat.name}: {pat.reason or '; '.join(parts)}")
    return "\n".join(lines) + "\n"


class PersonaCard(Guarded, VerticalScroll):
    """Scrollable and focusable; Enter or e asks to edit the persona."""

    BINDINGS = [Binding("enter,e", "edit", "Edit persona")]

    class EditRequested(Message):
        pass

    def compose(self):
        yield Static("Pick a persona on the left.", id="persona-card-text")

    def show(self, persona: Persona | None) -> None:
        body = self.query_one("#persona-card-text", Static)
        if persona is None:
            body.update(Text("Pick a persona on the left, or press n for a new one.", style="dim"))
        else:
            body.update(persona_text(persona))
        self.scroll_home(animate=False)

    def action_edit(self) -> None:
        self.post_message(self.EditRequested())
