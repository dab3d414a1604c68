"""Review's loading path on a big run: the rows drawn at once from the run's index (decisions,
topics), the verdicts drawn into the rows on view slice by slice as the filters find them, the
counts line saying how far the filters are, and the selected conversation read at its offset
and judged on its own until the full load is there.  Mixed into ``ReviewScreen``."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.widgets.chat_view import quiet_update

STATE_ICONS = {"accepted": "✓ accepted", "rejected": "✗ rejected", "ok": "· ok",
               "flagged": "⚑ flagged", "partial": "◐ partial"}


class ReviewLoadingMixin:
    _drawn_partial = 0  # verdicts drawn into the rows on view while loading

    def run_indexed(self, run_id: str, index) -> None:
        """The rows at once from the run's index; verdicts, turns and tokens follow the full load."""
        table = self.query_one("#review-table")
        self.shown = list(index.ids)
        table.set_rows(self.shown, self._quick_cells)
        want = self.selected or getattr(self.app, "current_conversation_id", None)
        self.selected = want if want in index.positions else (self.shown[0] if self.shown else None)
        if self.selected is not None:
            table.move_cursor(row=index.positions[self.selected])
        self.draw_loading()
        self.draw_selected()
        if self._progress_timer is None:
            self._progress_timer = self.set_interval(0.5, self.draw_loading)

    def draw_loading(self) -> None:
        """The counts line while the full load runs: how far the filters are."""
        if self.rs is not None or self.index is None:
            return
        n = len(self.index.ids)
        done = self.load_progress
        far = f" {done[0]:,} of {done[1]:,}" if done else ""
        text = f"{n:,} conversations  ·  the filters are checking them…{far}  ·  showing {len(self.shown):,}"
        if text != self._loading_text:
            self._loading_text = text
            quiet_update(self.query_one("#review-counts", Static), Text(text))
        if len(self.partial) != self._drawn_partial:  # verdicts came: the rows on view show them
            self._drawn_partial = len(self.partial)
            table = self.query_one("#review-table")
            table.refresh_rows([k for k in table.keys_on_view() if k in self.partial])

    def _quick_cells(self, cid: str) -> tuple:
        rec = self.reviews.get(cid)
        decision = rec.decision if rec else None
        v = self.partial.get(cid)
        pos = self.index.positions.get(cid)
        if decision:
            state = STATE_ICONS[decision]
        elif pos is not None and self.index.statuses[pos] == "partial":
            state = STATE_ICONS["partial"]
        elif v is not None:  # near-duplicates are found at the end: ok may still turn flagged
            state = STATE_ICONS["ok" if v.ok else "flagged"]
        else:
            state = "… checking"
        reasons = "…" if v is None else (", ".join(v.rules) if v.rules else "—")
        return (state, "", reasons, "…", "…", self.index.topic(cid))

    def _quick_reviewed(self, cid: str):
        """The selected conversation before the full load: its body read at its offset and
        judged on its own (near-duplicates need the whole run)."""
        from synth.curate.filters import check
        from synth.curate.review import Reviewed

        got = self.quick_item(cid)
        if got is None:
            return None
        conv, turns, edited = got
        rec = self.reviews.get(cid)
        v = self.partial.get(cid) or check(conv, persona=self.review.persona, turns=turns)
        return Reviewed(conv=conv, turns=turns, decision=rec.decision if rec else None,
                        edited=edited, verdict=v)
