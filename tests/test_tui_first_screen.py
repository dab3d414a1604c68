"""The first screen: drawn in one pass with the library's files, without the modules it does not
need (checked in a fresh interpreter, so an import added on the way cannot hide), and topics
shown as written (text, never markup)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from textual import events

from tui.app import ChatsynthApp
from tui.testing import wait_for

REPO = Path(__file__).resolve().parent.parent

# What the Library screen never needs for its first frame: the SDKs and HTTP clients, the
# tokenizer, the run catalog's database, the keyring, the embedded model, ruamel.yaml (comment-
# keeping edits only) and textual's TextArea (persona form, other screens).
HEAVY = ("openai", "aiohttp", "httpx", "tiktoken", "tinydb", "keyring", "llama_cpp", "ruamel",
         "textual.widgets._text_area", "textual.document", "rich._emoji_codes")

FIRST_FRAME = r"""
import asyncio, json, sys
from pathlib import Path
from synth.library.workspace import Workspace
from textual import events

from tui.app import ChatsynthApp

HEAVY = json.loads(sys.argv[2])

async def main():
    app = ChatsynthApp(Workspace(Path(sys.argv[1])), blink=False, first_run=False)
    async with app.run_test(size=(160, 48)) as pilot:
        while getattr(app.screen, "current", None) is None:
            await asyncio.sleep(0.002)
        await pilot.pause()
        assert "persona-list" in str(app.screen.query_one("#persona-list").id)
        loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in HEAVY))
        print("LOADED", json.dumps(loaded))
        print("LIBRARY", app.screen.current.id, app.screen.query_one("#topic-table").row_count)

asyncio.run(main())
"""


def test_first_screen_imports_no_heavy_module(workspace):
    import json

    res = subprocess.run([sys.executable, "-c", FIRST_FRAME, str(workspace.root), json.dumps(HEAVY)],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = dict(ln.split(" ", 1) for ln in res.stdout.splitlines() if " " in ln)
    assert json.loads(lines["LOADED"]) == []
    persona, rows = lines["LIBRARY"].split()
    assert persona and int(rows) > 0  # the screen really was drawn with the library


class FirstFrameProbe(ChatsynthApp):
    """Notes what the first frame shows: Textual posts Ready to the app from the screen's first
    layout, as that frame is drawn."""

    CSS_PATH = str(REPO / "tui" / "app.tcss")
    first_frame: tuple | None = None

    def post_message(self, message) -> bool:
        if isinstance(message, events.Ready) and self.first_frame is None:
            scr = self.screen
            self.first_frame = (getattr(scr, "current", None),
                                scr.query_one("#topic-table").row_count, set(scr.classes))
        return super().post_message(message)


async def test_first_frame_already_shows_the_library(workspace):
    """The library's files are read while the screen is built, so the first frame shows the
    persona and the topics (it used to be drawn empty, then laid out again twice), in the
    layout for the terminal's size."""
    app = FirstFrameProbe(workspace, blink=False, first_run=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.first_frame is not None)
        persona, rows, classes = app.first_frame
        assert persona is not None and persona.id
        assert rows > 0
        # styled for its size from the start (Textual adds the size classes on the first Resize,
        # after the first frame, then styles and lays out every widget again)
        assert {"-wide", "-tall"} <= classes


async def test_topics_show_as_written_not_as_markup(workspace):
    """A topic with square brackets is text: '[/b]' used to stop the table with a MarkupError,
    '[b]x[/b]' showed as a bold x."""
    path = workspace.topics_dir / "eve.txt"
    weird = ["Closing tag first [/b] then words", "[b]bold?[/b] and :smile:"]
    path.write_text("\n".join(weird) + "\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=(120, 40)) as pilot:
        scr = app.screen
        editor = scr.query_one("#topic-editor")
        await wait_for(pilot, lambda: editor.source is not None)
        if editor.source.id != "eve":
            idx = [s.id for s in scr.sources].index("eve")
            scr.query_one("#source-list").highlighted = idx
            await wait_for(pilot, lambda: editor.source is not None and editor.source.id == "eve")
        table = scr.query_one("#topic-table")
        table.focus()
        await pilot.pause()
        shown = "\n".join(str(s.text) for s in (table.render_line(y) for y in range(table.size.height)))
        assert weird[0] in shown and weird[1] in shown
        assert not app.unexpected_errors


async def test_the_footer_is_rebuilt_only_when_its_keys_change(workspace):
    """A change of the screen's bindings that leaves the footer's keys as they are (a refresh of
    the bindings, the focus moving within the persona list) does not draw the footer again
    (Textual recomposed and restyled a widget per key for each); a change of keys (the focus on
    the topic sources) shows the new ones."""
    from tui.widgets.footer import AppFooter

    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=(160, 48)) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.current is not None)
        scr.query_one("#persona-list").focus()
        footer = scr.query_one(AppFooter)

        def descriptions() -> list[str]:
            return [description for _key, description, _enabled in footer.keys]

        await wait_for(pilot, lambda: "Duplicate" in descriptions())
        await pilot.pause()
        before, paints = footer.keys, footer.paints
        scr.refresh_bindings()
        await pilot.press("down")
        await pilot.pause()
        await pilot.pause()
        assert footer.keys == before
        assert footer.paints == paints, "the footer was drawn again for the same keys"
        scr.query_one("#source-list").focus()
        await wait_for(pilot, lambda: "New list" in descriptions())
        assert "Duplicate" not in descriptions()
        assert footer.paints > paints
        line = "".join(seg.text for seg in footer.render_line(0))
        assert " New list " in line and "Duplicate" not in line

async def test_the_persona_card_keeps_its_wrap_width_when_its_scroll_bar_comes(workspace):
    """The card's scroll bar comes in the layout after the first (its content is measured in
    the first); without a reserved gutter the card's text was wrapped again, one column
    narrower, and laid out and drawn a second time."""
    from textual.widgets import Static

    widths: list[int] = []
    app = ChatsynthApp(workspace, blink=False, first_run=False)
    async with app.run_test(size=(160, 48)) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.current is not None)
        text = scr.query_one("#persona-card-text", Static)
        await wait_for(pilot, lambda: text.size.width > 0)
        widths.append(text.size.width)
        card = scr.query_one("#persona-card")
        await wait_for(pilot, lambda: card.show_vertical_scrollbar)  # Eve's card is long
        await pilot.pause()
        widths.append(text.size.width)
    assert widths[0] == widths[1]
