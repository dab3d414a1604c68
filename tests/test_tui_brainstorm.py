"""The topic editor's brainstorm flow with Pilot against the real fault server: b opens the
dialog with the estimate, Ask shows the model's new, distinct topics as a checklist, unticked
ones are left out, Add selected saves the rest to the list with its comments; B asks for
subtopics of the selected topic and records the tree; a bad answer is shown in place."""

from __future__ import annotations

from textual.widgets import SelectionList, Static

from synth.library.topics import load_topic_source
from tests.faultserver import FaultServer
from tui.app import ChatsynthApp
from tui.testing import use_endpoint, wait_for

SIZE = (120, 40)


async def open_topics(pilot):
    scr = pilot.app.screen
    await wait_for(pilot, lambda: scr.current is not None)
    scr.query_one("#source-list").focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: pilot.app.focused is scr.query_one("#topic-table"))


async def test_brainstorm_checklist_adds_the_ticked_topics(workspace):
    path = workspace.topics_dir / "eve.txt"
    before = path.read_text()
    n0 = len(load_topic_source(path).topics)
    with FaultServer() as fs:
        use_endpoint(workspace, fs.url, model="gpt-4o-mini", style="chat")
        app = ChatsynthApp(workspace, blink=False, first_run=False, start="library")
        async with app.run_test(size=SIZE) as pilot:
            await open_topics(pilot)
            await pilot.press("b")
            dlg = await wait_for(pilot, lambda: type(app.screen).__name__ == "BrainstormDialog"
                                 and app.screen)
            est = str(dlg.query_one("#bs-estimate", Static).render())
            assert "estimate:" in est and "at most 440 completion tokens on gpt-4o-mini" in est
            await pilot.press("backspace", "backspace", "3")
            await wait_for(pilot, lambda: "at most 160 completion" in
                           str(dlg.query_one("#bs-estimate", Static).render()))
            assert fs.requests == []  # the estimate came before any request
            await pilot.press("enter")
            sel = dlg.query_one("#bs-list", SelectionList)
            await wait_for(pilot, lambda: sel.display and sel.option_count == 3, timeout=20)
            assert len(sel.selected) == 3
            assert "3 new topics (asked for 3); 3 left out" in \
                str(dlg.query_one("#bs-estimate", Static).render())
            while sel.highlighted != 1:
                await pilot.press("down")
            await pilot.press("space")  # untick the second
            await pilot.click("#bs-add")
            await wait_for(pilot, lambda: type(app.screen).__name__ != "BrainstormDialog")
            editor = app.screen.query_one("#topic-editor")
            await wait_for(pilot, lambda: len(editor.texts) == n0 + 2)
    texts = [t.text for t in load_topic_source(path).topics]
    assert texts[n0:] == ["I want to start running again after an injury",
                          "I freeze whenever my manager asks me a question in meetings"]
    assert path.read_text().startswith(before)


async def test_subtopics_and_a_bad_answer_in_place(workspace):
    path = workspace.topics_dir / "eve.txt"
    with FaultServer() as fs:
        use_endpoint(workspace, fs.url, model="gpt-4o-mini", style="chat")
        app = ChatsynthApp(workspace, blink=False, first_run=False, start="library")
        async with app.run_test(size=SIZE) as pilot:
            await open_topics(pilot)
            before = path.read_bytes()
            fs.script("ideas:notlist")
            await pilot.press("b")
            dlg = await wait_for(pilot, lambda: type(app.screen).__name__ == "BrainstormDialog"
                                 and app.screen)
            await pilot.press("enter")
            err = dlg.query_one("#bs-error", Static)
            await wait_for(pilot, lambda: err.display, timeout=20)
            assert "not a list" in str(err.render()) and "unchanged" in str(err.render())
            assert path.read_bytes() == before
            await pilot.press("escape")
            await wait_for(pilot, lambda: type(app.screen).__name__ != "BrainstormDialog")
            parent = load_topic_source(path).topics[0].text
            app.screen.query_one("#topic-table").focus()
            await pilot.press("B")
            dlg = await wait_for(pilot, lambda: type(app.screen).__name__ == "BrainstormDialog"
                                 and app.screen)
            await pilot.press("enter")
            sel = dlg.query_one("#bs-list", SelectionList)
            await wait_for(pilot, lambda: sel.display and sel.option_count > 0, timeout=20)
            await pilot.click("#bs-all")
            await wait_for(pilot, lambda: type(app.screen).__name__ != "BrainstormDialog")
    subs = [t for t in load_topic_source(path).topics if t.parent == parent]
    assert len(subs) == 10 and subs[0].text.startswith("At work: ")


def test_brainstorm_checklist_snapshot(workspace, snap_compare):
    from tui.testing import steady

    with FaultServer() as fs:
        use_endpoint(workspace, fs.url, model="gpt-4o-mini", style="chat")

        async def checklist(pilot):
            await open_topics(pilot)
            await pilot.press("b", "backspace", "backspace", "4", "enter")
            await wait_for(pilot, lambda: pilot.app.screen.query_one("#bs-list").display,
                           timeout=20)
            await steady(pilot)

        app = ChatsynthApp(workspace, blink=False, first_run=False, start="library")
        assert snap_compare(app, terminal_size=SIZE, run_before=checklist)
