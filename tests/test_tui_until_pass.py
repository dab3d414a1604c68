"""Synthesize's Limit "until N pass" (with a Max cap) and its Judge switch: checked like the
other numbers, the estimate's judge line and pass-rate line, and a run against the loopback
fault server that ends with exactly N passing conversations, "passing N/N" on screen."""

from __future__ import annotations

import pytest

from faultserver import FaultServer
from synth.curate.until import passing
from synth.dataset.store import Store
from tui.app import ChatsynthApp
from tui.testing import notified, steady, unchanged, use_endpoint, wait_for

SIZE = (160, 48)


@pytest.fixture
def server():
    with FaultServer(chunk_delay=0.005) as fs:
        yield fs


@pytest.fixture
def loop_ws(workspace, server):
    use_endpoint(workspace, server.url)
    (workspace.topics_dir / "short.txt").write_text(
        "\n".join(f"short topic {i}" for i in range(8)) + "\n")
    workspace.reload()
    return workspace


def _estimate(scr) -> str:
    return str(scr.query_one("#estimate").render())


async def _until(pilot, n: str, *, max_: str = "", judge: bool = False):
    scr = pilot.app.screen
    scr.query_one("#rf-topics").value = "short"
    scr.query_one("#rf-limit_mode").value = "until"
    await pilot.pause()
    scr.query_one("#rf-limit").value = n
    scr.query_one("#rf-max").value = max_
    scr.query_one("#rf-judge").value = judge
    await pilot.pause()
    return scr


@pytest.mark.parametrize("n,max_,needle", [
    ("", "", "until N pass: is required"),
    ("0", "", "until N pass: must be 1 or more, not 0"),
    ("-5", "", "until N pass: must be 1 or more, not -5"),
    ("3", "0", "max: must be 1 or more, not 0"),
])
async def test_until_n_pass_is_checked_like_the_other_numbers(loop_ws, n, max_, needle):
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = await _until(pilot, n, max_=max_)
        await wait_for(pilot, lambda: needle in _estimate(scr))  # the estimate says it at once
        await pilot.press("f5")
        await pilot.pause()
        assert scr.live is None
        await notified(pilot, needle)
        assert not any(loop_ws.runs_dir.glob("*/spec.json"))


async def test_a_typed_word_never_reaches_the_number(loop_ws):
    """The N field takes whole numbers only: typing "ten" leaves it empty, which is refused."""
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = await _until(pilot, "")
        scr.query_one("#rf-limit").focus()
        await pilot.press("t", "e", "n")
        assert scr.query_one("#rf-limit").value == ""
        await pilot.press("f5")
        await notified(pilot, "until N pass: is required")


async def test_max_goes_with_until_only_and_the_estimate_follows(loop_ws):
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = app.screen
        assert scr.query_one("#rf-max").disabled  # "at most N": no cap field
        scr = await _until(pilot, "4", max_="10", judge=True)
        assert not scr.query_one("#rf-max").disabled
        await wait_for(pilot, lambda: "until 4 pass" in _estimate(scr))
        est = _estimate(scr)
        assert "no pass rate known yet" in est and "10 to write: limit 10 of 40" in est
        assert "judge (fake-model" in est and "rubric" in est
        req = scr.query_one("#run-form").request()
        assert (req.until_pass, req.max_new, req.limit, req.judge) == (4, 10, None, True)
        scr.query_one("#rf-limit_mode").value = "limit"
        await pilot.pause()
        assert scr.query_one("#rf-max").disabled
        req = scr.query_one("#run-form").request()
        assert (req.until_pass, req.max_new, req.limit) == (None, None, 4)


async def test_until_pass_with_the_judge_ends_with_exactly_n_passing(loop_ws, server):
    # topic 0 is judged low: the first round of 3 gives 2, a second round writes one more
    server.script(["ok", "jlow"], match="short topic 0")
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = await _until(pilot, "3", judge=True)
        scr.query_one("#rf-concurrency").value = "1"
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.live is not None and scr.live.state == "finished", 60)
        await pilot.pause(0.3)
        status = str(scr.query_one("#run-status").render())
        assert "passing 3/3" in status and "judge judged 4" in status, status
        assert scr.live.finished.reason == "3 pass (the target was 3)"
        assert scr.live.finished.done == 4
        assert scr.query_one("#conv-table").row_count == 4
        assert app.unexpected_errors == []
        run_id = scr.live.run_id
    store = Store(loop_ws.runs_dir)
    assert passing(store, run_id, None, True) == 3
    assert len(store.load(run_id).conversations) == 4
    # the estimate now has a rate: 3 of 4 passing in this run
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = await _until(pilot, "6", judge=True)
        await wait_for(pilot, lambda: "until 6 pass" in _estimate(scr))
        assert "at 75% passing (3 of 4 passing every filter and the judge, seen in this run" \
            in _estimate(scr).replace("\n", " ")


async def test_until_pass_without_the_judge_stops_at_the_target(loop_ws, server):
    app = ChatsynthApp(loop_ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=SIZE) as pilot:
        scr = await _until(pilot, "2")
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.live is not None and scr.live.state == "finished", 60)
        await pilot.pause(0.3)
        assert "passing 2/2" in str(scr.query_one("#run-status").render())
        assert scr.live.finished.done == 2
    assert sum(1 for r in server.requests if "Topic:" in r.prompt) == 2


@pytest.fixture
def snap_ws(workspace):
    """A fixed workspace for pictures: a loopback endpoint (never asked: no run) with a price."""
    use_endpoint(workspace, "http://127.0.0.1:9/v1")
    (workspace.topics_dir / "short.txt").write_text(
        "\n".join(f"short topic {i}" for i in range(8)) + "\n")
    with open(workspace.config_path, "a", encoding="utf-8") as f:
        f.write("prices:\n  fake-model: {input: 1.0, output: 2.0}\n")
    workspace.reload()
    return workspace


def _until_form(scroll_to_estimate: bool):
    async def run(pilot):
        scr = await _until(pilot, "5", max_="20", judge=True)
        await wait_for(pilot, lambda: "until 5 pass" in _estimate(scr))
        if scroll_to_estimate:  # the judge's and the pass rate's lines
            scr.query_one("#run-form").scroll_end(animate=False)
        await steady(pilot)
        await unchanged(pilot)  # the estimate re-wraps once the form's scroll bar settles
        if scroll_to_estimate:
            scr.query_one("#run-form").scroll_end(animate=False)
            await unchanged(pilot)
    return run


def test_until_n_pass_and_judge_form_160x48(snap_ws, snap_compare):
    app = ChatsynthApp(snap_ws, blink=False, first_run=False, start="synthesize")
    assert snap_compare(app, terminal_size=SIZE, run_before=_until_form(True))


def test_until_n_pass_and_judge_form_80x24(snap_ws, snap_compare):
    app = ChatsynthApp(snap_ws, blink=False, first_run=False, start="synthesize")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_until_form(False))
