"""Secrets: a recognisable API key, sent to the server, is written nowhere.

One canary key goes into the real system keyring (Secret Service, under tests/with-secret-service,
stored with `chatsynth key set`), another into the environment.  Each is the key of an endpoint
(``key_name``) pointing at the loopback fault server, which records the Authorization header of
every request: that proves the key WAS sent.  Then: synthesis with `chatsynth run` (one run per
key, and one that the server refuses with 401), `chatsynth export`, `runs`, `key list`, and the
TUI (a run started from the Synthesize screen, every screen visited, the key typed into the
Settings password box), with every screen's capture saved.  Every file under the workspace, the
exports, the captured logs and screens, the user data/config/state/cache dirs and this test's
temp files is scanned: neither key appears anywhere (nor its JSON-escaped form).

Also: files the app writes that could hold anything sensitive are owner-only (0o600): the
workspace config (after the app rewrote it) and the run catalog.  Other files' modes are
listed in the test output.
"""

from __future__ import annotations

import html
import os
import re
import secrets as pysecrets
import stat
import subprocess
import time
from pathlib import Path

import pytest

from rel_faultproc import FaultProc
from rel_helpers import REPO, chatsynth_cmd, scan_for, write_topics
from synth.library import secrets
from synth.dataset.store import Store
from synth.library.workspace import init_workspace

KR_NAME = "CHATSYNTH_CANARY_KEYRING"
ENV_NAME = "CHATSYNTH_CANARY_ENV"

pytestmark = pytest.mark.timeout(240)


def _keyring_ok() -> bool:
    ok, why = secrets.keyring_available()
    if not ok and os.environ.get("CI"):
        pytest.fail(f"CI must run the keyring part under tests/with-secret-service: {why}")
    return ok


def _cli(args: list[str], env: dict, logs: Path, name: str, input: str | None = None,
         expect: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    r = subprocess.run(chatsynth_cmd() + args, cwd=REPO, env=env, input=input,
                       capture_output=True, text=True, timeout=120)
    (logs / f"{name}.stdout.log").write_text(r.stdout)
    (logs / f"{name}.stderr.log").write_text(r.stderr)
    assert r.returncode in expect, f"{name}: exit {r.returncode}: {r.stderr[-1500:]}"
    assert "Traceback" not in r.stderr, r.stderr[-1500:]
    return r


def _screen_text(svg: str) -> str:
    """What a person would read off a screen capture (SVG text spans joined, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


def _modes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): oct(p.stat().st_mode & 0o777)
            for p in sorted(root.rglob("*")) if p.is_file()}


async def _tui_session(ws, screens: Path, fp: FaultProc, typed_key: str | None) -> list[str]:
    """Start a run from the Synthesize screen, visit every screen, type a key into Settings.
    Saves a capture of each screen; returns the notes of what happened."""
    from tui.app import ChatsynthApp
    from tui.testing import wait_for

    notes = []
    app = ChatsynthApp(ws, blink=False, first_run=False, start="synthesize")
    async with app.run_test(size=(120, 40)) as pilot:
        scr = app.screen
        est = scr.query_one("#estimate")
        await wait_for(pilot, lambda: "prompt tokens" in str(est.render()), timeout=30)
        scr.query_one("#rf-limit").value = "3"
        scr.query_one("#rf-concurrency").value = "2"
        await pilot.press("f5")
        await wait_for(pilot, lambda: scr.live is not None and scr.live.state == "finished",
                       timeout=60)
        notes.append(f"tui run: {scr.live.finished.outcome} {scr.live.finished.done}")
        (screens / "synthesize.svg").write_text(app.export_screenshot())
        for mode in ("library", "trim", "review", "export", "settings"):
            app.action_goto(mode)
            await pilot.pause(0.3)
            (screens / f"{mode}.svg").write_text(app.export_screenshot())
        if typed_key is not None:
            s = app.screen
            await wait_for(pilot, lambda: getattr(s, "editing", None) is not None)
            s.query_one("#ep-key_name").value = KR_NAME
            await pilot.pause()
            box = s.query_one("#key-value")
            box.focus()
            box.value = typed_key
            await pilot.pause()
            (screens / "settings-key-typed.svg").write_text(app.export_screenshot())
            await pilot.press("enter")
            await pilot.pause(0.3)
            (screens / "settings-key-stored.svg").write_text(app.export_screenshot())
        app.action_help()
        await pilot.pause(0.2)
        (screens / "help.svg").write_text(app.export_screenshot())
        notes.append(f"unexpected errors: {app.unexpected_errors}")
        assert app.unexpected_errors == []
    return notes


async def test_keys_never_land_in_files_logs_or_screens(tmp_path, monkeypatch):
    kr_ok = _keyring_ok()
    canary_kr = f"sk-chatsynth-CANARY-{pysecrets.token_hex(12)}"
    canary_env = f"sk-chatsynth-CANARY-ENV-{pysecrets.token_hex(12)}"
    t0 = time.time()
    home = tmp_path / "home"
    for d in ("data", "config", "state", "cache"):
        (home / d).mkdir(parents=True)
        monkeypatch.setenv(f"XDG_{d.upper()}_HOME", str(home / d))
    logs, screens = tmp_path / "logs", tmp_path / "screens"
    logs.mkdir()
    screens.mkdir()
    ws, _ = init_workspace(tmp_path / "ws")
    write_topics(ws.topics_dir / "small.txt", 4, prefix="secret topic")
    monkeypatch.setenv("CHATSYNTH_WORKSPACE", str(ws.root))
    monkeypatch.setenv(ENV_NAME, canary_env)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    env = dict(os.environ)
    stored_before = secrets.get_key(KR_NAME).value if kr_ok else None
    assert stored_before is None or not stored_before.startswith("sk-chatsynth-CANARY")

    try:
        with FaultProc(turns=6, words_per_turn=8) as fp:
            # endpoints as data, through the app's own config writer
            from synth.library import settings as ws_settings
            for name, key_name in (("canary-kr", KR_NAME), ("canary-env", ENV_NAME)):
                ws_settings.save_endpoint(ws, None, {
                    "name": name, "base_url": fp.url, "key_name": key_name,
                    "default_model": "fault-model", "style": "completion"})
            ws.reload()
            assert canary_env not in ws.config_path.read_text()

            sent: dict[str, str] = {}
            if kr_ok:
                _cli(["key", "set", KR_NAME], env, logs, "key-set", input=canary_kr + "\n")
                assert secrets.get_key(KR_NAME).source == "keyring"
                fp.reset()
                _cli(["run", "--endpoint", "canary-kr", "--topics", "small", "--limit", "3"],
                     env, logs, "run-keyring")
                sent["keyring"] = canary_kr
                auths = {r["authorization"] for r in fp.log()}
                assert auths == {f"Bearer {canary_kr}"}, auths  # the keyring key WAS sent
            fp.reset()
            _cli(["run", "--endpoint", "canary-env", "--topics", "small", "--per-topic", "2",
                  "--limit", "3"], env, logs, "run-env")
            sent["env"] = canary_env
            auths = {r["authorization"] for r in fp.log()}
            assert auths == {f"Bearer {canary_env}"}, auths  # the environment key WAS sent
            # a refused key: the server's 401 message is printed, the key is not
            fp.reset()
            fp.script(["401"])
            r = _cli(["run", "--endpoint", "canary-env", "--topics", "small", "--per-topic", "3"],
                     env, logs, "run-401", expect=(3,))
            assert "401" in r.stderr + r.stdout
            _cli(["runs"], env, logs, "runs")
            store = Store(ws.runs_dir)
            exported = 0
            for run_id in store.run_ids():
                ids = [c.id for c in store.load(run_id).conversations]
                if not ids:
                    continue  # the refused run wrote nothing
                # the fault server's transcripts are near-duplicates: accept them by hand
                _cli(["review", run_id, "--accept", *ids], env, logs, f"review-{run_id}")
                _cli(["export", run_id, "--format", "all", "--validation-fraction", "0.5"],
                     env, logs, f"export-{run_id}", expect=(0, 1))
                exported += 1
            assert exported == len(sent)
            _cli(["key", "list"], env, logs, "key-list")

            # the TUI: a run from the Synthesize screen with the default endpoint's key
            ws_settings.set_default_endpoint(ws, "canary-kr" if kr_ok else "canary-env")
            ws.reload()
            fp.reset()
            tui_key = canary_kr if kr_ok else canary_env
            notes = await _tui_session(ws, screens, fp, canary_kr if kr_ok else None)
            auths = {r["authorization"] for r in fp.log()}
            assert auths == {f"Bearer {tui_key}"}, (auths, notes)
            assert len(fp.log()) >= 3, notes

        # -- scan ---------------------------------------------------------------------------
        for svg in screens.glob("*.svg"):
            (screens / (svg.stem + ".txt")).write_text(_screen_text(svg.read_text()))
        assert any(ws.exports_dir.rglob("*.jsonl")), "no export was written"
        assert len(list(screens.glob("*.svg"))) >= 6
        roots = [ws.root, logs, screens, home, tmp_path]
        tmp_top = Path(os.environ.get("TMPDIR", "/tmp"))
        roots += [p for p in tmp_top.glob("chatsynth*") if p.stat().st_mtime >= t0 - 1]
        for label, key in sent.items():
            hits = scan_for(key, roots)
            assert hits == [], f"the {label} key was written to: {hits}"
            # and not even most of it (a key cut short is still a leak)
            assert scan_for(key[:-4], roots) == [], f"most of the {label} key is in a file"
        shown = "".join(p.read_text() for p in screens.glob("*.txt"))
        assert canary_kr[:-4] not in shown and canary_env[:-4] not in shown

        # -- permissions ----------------------------------------------------------------------
        cfg_mode = stat.S_IMODE(ws.config_path.stat().st_mode)
        cat_mode = stat.S_IMODE((ws.runs_dir / "catalog.json").stat().st_mode)
        modes = _modes(ws.root)
        print("\nfile modes in the workspace:")
        for path, mode in modes.items():
            flag = "" if int(mode, 8) & 0o077 == 0 else "   (readable by others)"
            print(f"  {mode} {path}{flag}")
        assert cfg_mode == 0o600, oct(cfg_mode)
        assert cat_mode == 0o600, oct(cat_mode)
        writable = [p for p, m in modes.items() if int(m, 8) & 0o022]
        assert writable == [], f"group/world-writable files: {writable}"
    finally:
        if kr_ok:
            try:
                secrets.delete_key(KR_NAME)
            except secrets.SecretsError:
                pass
