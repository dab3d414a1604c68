"""Review, Trim and Export opened on a run of N conversations (100,000 by default): first paint
and key-press-to-effect while scrolling and filtering, against a bare Textual DataTable holding
the same N rows.  Used by bench_tui.py (``--big N``).

First paint: from the screen's App() to its table showing the run's rows (Review, Trim) or its
run picker showing the run with its count (Export); the run's log is indexed then, once per
process (a later open of a grown run reads only what was appended).  Keys: down/page down on
the table, each timed from the key to the chat view (Review) or the cut view (Trim) showing the
newly selected conversation, while the screen's full load runs (Trim defers its own: it is
started first); filtering: Review's verdict filter, once the filters' full pass is done, timed
until the table shows the filtered rows.  Baseline: a DataTable with the same rows
(add_rows, first paint, the same down keys).
"""

from __future__ import annotations

import asyncio
import time

from bench_tui import pct  # noqa: F401 - the same percentile everywhere

DOWN_KEYS = ["down"] * 8 + ["pagedown"] * 2


async def _keys(pilot, app, table, shown, n: int) -> list[float]:
    """Latency of n keys: each until the cursor has moved and ``shown(key under it)``."""
    from textual import events

    lat = []
    for i in range(n):
        key = DOWN_KEYS[i % len(DOWN_KEYS)]
        before = table.cursor_row
        ev = events.Key(key, None)
        ev.set_sender(app)
        t = time.perf_counter()
        app._driver.send_message(ev)
        while table.cursor_row == before or not shown(table):
            await asyncio.sleep(0.0005)
            if time.perf_counter() - t > 10:
                raise SystemExit(f"{key} had no effect in 10 s")
        lat.append((time.perf_counter() - t) * 1000)
        await asyncio.sleep(0.01)
    return lat


async def open_screen(ws, screen: str, presses: int, wait_full: float) -> dict:
    from tui.app import ChatsynthApp
    from tui.testing import wait_for

    out: dict = {}
    t0 = time.perf_counter()
    app = ChatsynthApp(ws, blink=False, first_run=False, start=screen)
    async with app.run_test(size=(160, 48)) as pilot:
        scr = app.screen
        if screen == "export":
            picker = scr.query_one("#export-run")
            await wait_for(pilot, lambda: scr.run_id is not None, 120, 0.002)
            await pilot.pause()
            out["first_paint_ms"] = (time.perf_counter() - t0) * 1000
            out["label"] = str(picker.selection) if hasattr(picker, "selection") else ""
            return out
        table = scr.query_one(f"#{screen}-table")
        await wait_for(pilot, lambda: table.row_count > 0, 120, 0.002)
        await pilot.pause()
        out["first_paint_ms"] = (time.perf_counter() - t0) * 1000
        out["rows"] = table.row_count
        table.focus()
        if getattr(scr, "DEFER_LOAD", 0):
            scr.load_now()  # Trim defers its full load: the keys are timed while it runs
        if screen == "review":
            chat = scr.query_one("#review-chat")
            shown = lambda t: t.cursor_key and chat._header.endswith(t.cursor_key)  # noqa: E731
        else:
            shown = lambda t: scr.preview is not None and scr.preview.id == t.cursor_key  # noqa: E731
        lat = await _keys(pilot, app, table, shown, presses)
        out["scroll_p50_ms"], out["scroll_p95_ms"] = pct(lat, 0.5), pct(lat, 0.95)
        out["scroll_while_loading"] = scr.rs is None
        if screen == "review" and wait_full:
            t = time.perf_counter()
            await wait_for(pilot, lambda: scr.rs is not None, wait_full, 0.05)
            out["full_load_s"] = time.perf_counter() - t + out["first_paint_ms"] / 1000
            view = scr.query_one("#review-view")
            flat = []
            for i in range(max(12, presses // 3)):  # enough changes for a p95
                value = ("flagged", "all", "ok", "all")[i % 4]
                t = time.perf_counter()
                view.value = value
                await wait_for(pilot, lambda: view.value == value and (
                    value == "all" and len(scr.shown) == len(scr.rs.items)
                    or value != "all" and all(scr.rs.by_id(c).state == value for c in scr.shown[:50])),
                    30, 0.0005)
                flat.append((time.perf_counter() - t) * 1000)
            out["filter_p50_ms"], out["filter_p95_ms"] = pct(flat, 0.5), pct(flat, 0.95)
            lat = await _keys(pilot, app, table, shown, presses)
            out["scroll_loaded_p95_ms"] = pct(lat, 0.95)
    out["unexpected_errors"] = len(app.unexpected_errors)
    return out


async def bare_datatable(n: int, presses: int) -> dict:
    from textual.app import App
    from textual.widgets import DataTable

    from tui.testing import wait_for

    class Bare(App):
        def compose(self):
            yield DataTable(cursor_type="row")

    t0 = time.perf_counter()
    app = Bare()
    async with app.run_test(size=(160, 48)) as pilot:
        t = app.query_one(DataTable)
        for label, w in (("State", 11), ("Reasons", 18), ("Turns", 5), ("Tokens", 6), ("Topic", 20)):
            t.add_column(label, key=label, width=w)
        t.add_rows([("· ok", "—", "8", "1,234", f"bench topic {i}") for i in range(n)])
        await wait_for(pilot, lambda: not t._require_update_dimensions, 300, 0.002)
        await pilot.pause()
        first = (time.perf_counter() - t0) * 1000
        t.focus()
        lat = await _keys(pilot, app, t, lambda _: True, presses)  # the cursor is the effect
    return {"first_paint_ms": first, "scroll_p50_ms": pct(lat, 0.5), "scroll_p95_ms": pct(lat, 0.95)}


def run(n: int, presses: int, wait_full: float) -> dict:
    import tempfile
    from pathlib import Path

    from bench_export import make_store
    from synth.dataset import runindex
    from synth.library.workspace import init_workspace

    res: dict = {"conversations": n}
    with tempfile.TemporaryDirectory(prefix="chatsynth-bench-big-") as tmp:
        ws, _ = init_workspace(Path(tmp) / "ws")
        t = time.perf_counter()
        make_store(ws.runs_dir, n)
        res["setup_s"] = time.perf_counter() - t
        for screen in ("export", "trim", "review"):  # a fresh app each, indexing the run again
            runindex._CACHE.clear()
            res[screen] = asyncio.run(open_screen(ws, screen, presses, wait_full))
    res["bare_datatable"] = asyncio.run(bare_datatable(n, presses))
    return res


def main(argv: list[str] | None = None) -> int:
    """Standalone: ``python bench/bench_bigrun.py [--n N] [--screens review,trim] [--profile F]``."""
    import argparse
    import json
    import os
    import tempfile
    from pathlib import Path

    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--presses", type=int, default=60)
    ap.add_argument("--wait", type=float, default=600, help="seconds to wait for Review's full load")
    ap.add_argument("--screens", default="export,trim,review")
    ap.add_argument("--no-bare", action="store_true", help="skip the bare DataTable baseline")
    ap.add_argument("--profile", default=None, help="write cProfile stats of the screens here")
    a = ap.parse_args(argv)
    from bench_export import make_store
    from synth.dataset import runindex
    from synth.library.workspace import init_workspace

    res: dict = {"conversations": a.n}
    with tempfile.TemporaryDirectory(prefix="chatsynth-bench-big-") as tmp:
        ws, _ = init_workspace(Path(tmp) / "ws")
        t = time.perf_counter()
        make_store(ws.runs_dir, a.n)
        res["setup_s"] = time.perf_counter() - t
        prof = None
        if a.profile:
            import cProfile
            prof = cProfile.Profile()
            prof.enable()
        for screen in a.screens.split(","):
            runindex._CACHE.clear()
            res[screen] = asyncio.run(open_screen(ws, screen, a.presses, a.wait))
        if prof is not None:
            prof.disable()
            prof.dump_stats(a.profile)
    if not a.no_bare:
        res["bare_datatable"] = asyncio.run(bare_datatable(a.n, a.presses))
    res["load_average_1min"] = os.getloadavg()[0]
    print(json.dumps(res, indent=1))
    return 1 if any(isinstance(v, dict) and v.get("unexpected_errors") for v in res.values()) else 0


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
