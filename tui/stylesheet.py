"""The app's stylesheet: Textual's, but it parses each CSS source once per set of CSS variables.

Textual's ``App.refresh_css`` (run when the first screen of a mode is shown, and on a theme
change) sets the variables, which empties the parse cache, and reparses every source into a
fresh stylesheet; the sources added by the next widgets then parse everything a third time.
On the first screen that was two thirds of the CSS work of a launch (app.tcss and Textual's
App CSS are the biggest).  Parsed rules depend only on the CSS text and the variables, so
while the variables stay the same the cached rules are still right: this keeps them.  A theme
change (new variables) clears the cache and parses again, as Textual does.
"""

from __future__ import annotations

from textual.css.stylesheet import Stylesheet


class KeptStylesheet(Stylesheet):
    """A Stylesheet whose ``set_variables`` with the same variables keeps the parsed rules, and
    whose ``reparse`` reuses them (only sources not parsed yet are parsed)."""

    def set_variables(self, variables: dict[str, str]) -> None:
        if variables == self._variables:
            return
        super().set_variables(variables)

    def reparse(self) -> None:
        if self._invalid_css:  # a source failed before: Textual's full reparse reports it
            super().reparse()
            return
        # parse() builds the rules from every source, each from the cache when it is there; it
        # sets the new rules only when all of them parse, as reparse() does.
        self.parse()

    @classmethod
    def replacing(cls, sheet: Stylesheet) -> "KeptStylesheet":
        """A KeptStylesheet with ``sheet``'s variables (an App's, before it has any source)."""
        return cls(variables=dict(sheet._variables))
