"""The Library's live preview beside the persona form: the rendered prompt follows the form as
it is typed (with its token count), F5 writes one sample through the loopback fault server into
the store's preview area (streamed, with the filters' verdict), an edit cancels it, an invalid
form is refused, samples are listed per persona version and never reach `chatsynth runs` or an
export.  Snapshots at 160x48 and 80x24."""

from __future__ import annotations


from faultserver import FaultServer
from tui.app import ChatsynthApp
from tui.testing import steady, unchanged, use_endpoint, wait_for

SIZE = (160, 48)
SMALL = (80, 24)


def text_of(scr, sel: str) -> str:
    return str(scr.query_one(sel).render())


async def open_eve(pilot):
    scr = pilot.app.screen
    await wait_for(pilot, lambda: scr.current is not None and scr.current.id == "eve")
    await pilot.press("ctrl+e")
    await wait_for(pilot, lambda: scr.form is not None and scr.form.original is not None)
    await wait_for(pilot, lambda: "prompt tokens" in text_of(scr, "#preview-tokens"))
    return scr


async def write_sample(pilot, scr) -> None:
    await pilot.press("f5")
    await wait_for(pilot, lambda: "sample written" in text_of(scr, "#preview-state"), timeout=30)


def app_for(ws):
    return ChatsynthApp(ws, blink=False, first_run=False, start="library")


async def test_prompt_follows_the_form_as_typed_with_its_token_count(loop_ws):
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_eve(pilot)
        first = scr.pane.topics[0].text
        prompt = text_of(scr, "#preview-prompt")
        assert f"Topic: {first}" in prompt and prompt.rstrip().endswith("USER:")
        before = int(text_of(scr, "#preview-tokens").split()[0])
        area = scr.query_one("#pf-synthesis_prompt")
        area.focus()
        area.move_cursor((0, 0))
        await pilot.press(*"Zebra stripes. ")
        await wait_for(pilot, lambda: "Zebra stripes." in text_of(scr, "#preview-prompt"))
        assert int(text_of(scr, "#preview-tokens").split()[0]) > before
        assert scr.form.dirty  # not saved: the preview follows the form, not the file
        # another topic: the prompt is rendered for it
        scr.query_one("#preview-topic").value = 1
        second = scr.pane.topics[1].text
        await wait_for(pilot, lambda: f"Topic: {second}" in text_of(scr, "#preview-prompt"))
        assert app.unexpected_errors == []


async def test_an_invalid_form_shows_what_is_wrong_and_f5_starts_nothing(loop_ws, server):
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_eve(pilot)
        scr.query_one("#pf-user_label").value = "EVE"  # the same label as the persona's
        await wait_for(pilot, lambda: "✗" in text_of(scr, "#preview-tokens"))
        assert "user_label" in text_of(scr, "#preview-tokens")
        assert text_of(scr, "#preview-prompt").strip() == ""
        await pilot.press("f5")
        await wait_for(pilot, lambda: "not started" in text_of(scr, "#preview-state"))
        await pilot.pause(0.3)
        assert server.requests == [] and scr.job is None


async def test_a_sample_streams_in_with_the_verdict_and_stays_out_of_runs(loop_ws, server, cli):
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_eve(pilot)
        topic = scr.pane.topics[0].text
        seen: list[str] = []
        pane = scr.pane
        add = pane.add_text
        pane.add_text = lambda t: (seen.append(t), add(t))  # record what streamed in, as shown
        await write_sample(pilot, scr)
        assert len(seen) > 2  # streamed in chunks, not all at once
        assert "✓ filters: pass" in text_of(scr, "#preview-verdict")
        assert "EVE:" in text_of(scr, "#preview-sample")
        assert [s.conversation.topic for s in pane.samples] == [topic]
        sent = server.requests[-1]
        assert f"Topic: {topic}" in sent.prompt  # the prompt shown is the one sent
        conv_id = pane.samples[0].conversation.id
    runs = cli("runs")
    assert conv_id not in runs.stdout and "preview" not in runs.stdout
    assert (loop_ws.root / "preview" / "eve").is_dir()
    assert not loop_ws.runs_dir.exists() or not any(
        conv_id in p.read_text() for p in loop_ws.runs_dir.rglob("*.jsonl"))


async def test_editing_the_form_cancels_a_streaming_sample(workspace):
    with FaultServer(chunk_delay=0.3) as slow:
        use_endpoint(workspace, slow.url)
        app = app_for(workspace)
        async with app.run_test(size=SIZE) as pilot:
            scr = await open_eve(pilot)
            await pilot.press("f5")
            await wait_for(pilot, lambda: scr.pane.raw != "", timeout=20)
            scr.query_one("#pf-description").value += " and kind"
            await wait_for(pilot, lambda: "cancelled" in text_of(scr, "#preview-state"))
            await wait_for(pilot, lambda: scr.job is None, timeout=20)
            assert "cancelled" in text_of(scr, "#preview-state")
            assert all(s.conversation.status == "partial" for s in scr.pane.samples)
            assert app.unexpected_errors == []


async def test_samples_are_listed_per_persona_version_and_one_is_kept_as_example(loop_ws):
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = await open_eve(pilot)
        n_examples = len(scr.current.examples)
        await write_sample(pilot, scr)
        old = scr.pane.samples[0].version
        scr.query_one("#pf-description").value += " Patient."
        await wait_for(pilot, lambda: scr.form.dirty)
        await write_sample(pilot, scr)
        versions = [s.version for s in scr.pane.samples]
        assert len(versions) == 2 and versions[1] == old and versions[0] != old
        listed = [str(o.prompt) for o in scr.query_one("#preview-list").options]
        assert listed[0].startswith("this version") and any(
            x.startswith("an earlier version") for x in listed)
        # k refuses while the form has unsaved changes, then keeps it once saved
        box = scr.query_one("#preview-list")
        box.focus()
        box.highlighted = 1
        await pilot.press("k")
        await wait_for(pilot, lambda: "save the persona first" in text_of(scr, "#preview-state"))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not scr.form.dirty)
        await wait_for(pilot, lambda: scr.pane.samples and
                       scr.pane.samples[0].version == scr.form.valid.content_hash())
        box.focus()
        box.highlighted = 1
        await pilot.press("k")
        await wait_for(pilot, lambda: "kept as example" in text_of(scr, "#preview-state"))
        await wait_for(pilot, lambda: len(scr.current.examples) == n_examples + 1)
        assert app.unexpected_errors == []


# -- snapshots ---------------------------------------------------------------------------------

async def preview_ready(pilot):
    scr = pilot.app.screen
    await wait_for(pilot, lambda: scr.current is not None)
    await pilot.press("ctrl+e")
    await wait_for(pilot, lambda: scr.form is not None and scr.form.original is not None)
    await wait_for(pilot, lambda: "prompt tokens" in text_of(scr, "#preview-tokens"))
    # the editor puts the focus on its first field after a refresh: wait for it, or the picture
    # depends on which came first (the focused field draws its whole width)
    await wait_for(pilot, lambda: pilot.app.focused is scr.query_one("#pf-name"))
    scr.query_one("#pf-name").focus()
    await steady(pilot)
    for w in scr.query("#persona-form, #persona-edit"):  # focusing may have scrolled the form
        w.scroll_home(animate=False)
    await steady(pilot)
    await unchanged(pilot)



async def preview_narrow(pilot):
    scr = pilot.app.screen
    await preview_ready(pilot)
    scr.query_one("#preview-list").focus()  # as F5 does at 80 columns
    await wait_for(pilot, lambda: scr.has_class("-preview"))
    await steady(pilot)


def test_library_preview(workspace, snap_compare):
    assert snap_compare(app_for(workspace), terminal_size=SIZE, run_before=preview_ready)


def test_library_preview_80x24(workspace, snap_compare):
    assert snap_compare(app_for(workspace), terminal_size=SMALL, run_before=preview_narrow)


async def test_f5_from_the_persona_list_opens_the_editor_and_writes_a_sample(loop_ws, server):
    """One key from reading Eve to a sample of her (the editor opens with the preview)."""
    app = app_for(loop_ws)
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        await wait_for(pilot, lambda: scr.current is not None and scr.current.id == "eve")
        scr.query_one("#persona-list").focus()
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.form is not None)
        await wait_for(pilot, lambda: "sample written" in text_of(scr, "#preview-state"), timeout=30)
        assert len(scr.pane.samples) == 1 and len(server.requests) >= 1
