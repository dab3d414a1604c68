"""A checkbox whose mark says its state: ``[✓]`` ticked, ``[ ]`` not (Textual's stock one draws
an X either way and only its colour changes, which reads the same on many terminals)."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox


class MarkCheckbox(Checkbox):
    DEFAULT_CSS = """
    MarkCheckbox { background: transparent; }
    MarkCheckbox > .toggle--button { background: transparent; }
    """

    def __init__(self, label: str = "", value: bool = False, **kw) -> None:
        kw.setdefault("compact", True)
        super().__init__(label, value, **kw)

    @property
    def _button(self) -> Content:
        if self.value:
            return Content.assemble(("[", ""), ("✓", "bold $success"), ("]", ""))
        return Content("[ ]")
