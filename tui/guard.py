"""Errors as notifications, never a crash: a mixin for the app, its screens and widgets.

Textual stops a widget's message loop after an exception in one of its handlers (and exits the
app with a traceback).  ``Guarded`` catches the exception where the message is dispatched,
shows it (``App.report_error``) and lets the loop go on, so the widget keeps working.
"""

from __future__ import annotations

from asyncio import CancelledError


class Guarded:
    async def _dispatch_message(self, message) -> None:  # type: ignore[no-untyped-def]
        try:
            await super()._dispatch_message(message)  # type: ignore[misc]
        except CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - reported, never a traceback on screen
            app = self.app  # type: ignore[attr-defined]
            report = getattr(app, "report_error", None)
            if report is None or not app.is_running:
                raise
            report(err)
