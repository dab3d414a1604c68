"""AppButton looks and behaves as Textual's Button, with fewer style passes."""

from __future__ import annotations

import itertools

from textual.app import App
from textual.css.stylesheet import Stylesheet
from textual.widgets import Button

from tui.widgets.button import AppButton

CASES = list(itertools.product(("default", "primary", "success", "warning", "error"),
                               (False, True), (False, True)))


class Pair(App):
    def __init__(self, cls) -> None:
        super().__init__()
        self.cls = cls
        self.pressed: list[str] = []

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.pressed.append(event.button.id)

    def compose(self):
        for i, (variant, compact, flat) in enumerate(CASES):
            yield self.cls(f"Go {i}", variant, id=f"b{i}", classes="mine", compact=compact,
                           flat=flat)


async def _shown(cls, monkeypatch) -> tuple[list, list, int]:
    applied = []
    apply = Stylesheet.apply

    def counting(self, node, *args, **kwargs):
        if isinstance(node, Button):
            applied.append(node)
        return apply(self, node, *args, **kwargs)

    monkeypatch.setattr(Stylesheet, "apply", counting)
    app = Pair(cls)
    async with app.run_test(size=(100, 60)) as pilot:
        await pilot.pause()
        buttons = list(app.query(Button))
        classes = [sorted(b.classes) for b in buttons]
        lines = [[b.render_line(y).text for y in range(b.size.height)] + [str(b.styles.background),
                                                                          str(b.styles.color)]
                 for b in buttons]
        await pilot.click("#b3")
        await pilot.pause()
        assert app.pressed == ["b3"]
    monkeypatch.setattr(Stylesheet, "apply", apply)
    return classes, lines, len(applied)


async def test_app_buttons_look_like_buttons_and_are_styled_less(monkeypatch):
    plain_classes, plain_lines, plain_applied = await _shown(Button, monkeypatch)
    ours_classes, ours_lines, ours_applied = await _shown(AppButton, monkeypatch)
    assert ours_classes == plain_classes
    assert ours_lines == plain_lines
    assert ours_applied < plain_applied, (ours_applied, plain_applied)
    print("applied", ours_applied, plain_applied)
