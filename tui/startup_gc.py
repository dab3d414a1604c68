"""No garbage collection while the app starts.

Launching builds some 90,000 objects (Textual's styles, the first screen's widgets, the library
read from disk), and Python's collector scanned them again and again on the way to the first
frame: 45-65 ms of a ~550 ms launch on a 2-core machine, a full collection among them, where a
bare Textual app spends about 20.  Almost nothing made then is garbage: it lives as long as the
app.  So the collector is paused from the app's construction until its first screen is drawn,
then what exists is frozen (``gc.freeze``: left out of later collections, which stay short for
it) and collection resumes.  When the app closes, the frozen objects are handed back to the
collector, so a process that runs apps one after another (the tests) does not keep them all.
"""

from __future__ import annotations

import gc

_paused = False
_frozen = False


def pause() -> None:
    """Stop automatic collection, if it is on and nobody paused it already."""
    global _paused
    if not _paused and gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Freeze what the start built and turn collection back on (if ``pause`` turned it off)."""
    global _paused, _frozen
    if _paused:
        _paused = False
        gc.freeze()
        _frozen = True
        gc.enable()


def release() -> None:
    """The app is closing: resume if still paused, and give the frozen objects back."""
    global _frozen
    resume()
    if _frozen:
        _frozen = False
        gc.unfreeze()
