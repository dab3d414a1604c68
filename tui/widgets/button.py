"""``AppButton``: Textual's Button, styled once when it is mounted instead of three times.

Textual's Button adds CSS classes from its reactives: ``-textual-compact`` when ``compact`` is
set in its constructor (each class change restyles the widget, here before it is even mounted),
``-style-default`` (or ``-style-flat``) from the ``flat`` watcher that runs when it is mounted
(a second restyle), and ``-<variant>`` for a variant other than "default"; a reactive set in
the constructor also runs its watcher with its default value first (a class added, then taken
away).  An AppButton sets those values with ``set_reactive`` (no watcher) and is created with
their classes already on it, so the watchers that run when it is mounted find their classes
there and restyle nothing.  Same classes, same look (tests/test_tui_buttons.py); on the Library, whose
first screen has 14 buttons, that is 28 fewer style passes before the first frame.
"""

from __future__ import annotations

from textual.widgets import Button


class AppButton(Button):
    def __init__(self, label=None, variant="default", *, classes: str | None = None,
                 compact: bool = False, flat: bool = False, **kwargs) -> None:
        variant = self.validate_variant(variant)  # as Button's own setter does
        # Built as a default button (its reactives at their defaults: no class changes, the
        # class the flat watcher adds for them already there) ...
        super().__init__(label, classes=" ".join([classes or "", "-style-default"]).strip(),
                         **kwargs)
        # ... then given its values without watchers, and their classes without a restyle.
        self.set_reactive(Button.variant, variant)
        self.set_reactive(Button.compact, compact)
        self.set_reactive(Button.flat, flat)
        if variant != "default":  # "default" is the reactive's own value: Button adds no class
            self.add_class(f"-{variant}", update=False)
        if compact:
            self.add_class("-textual-compact", update=False)
        if flat:
            self.remove_class("-style-default", update=False).add_class("-style-flat", update=False)
