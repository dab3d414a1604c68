"""The containers ``yamlfast`` reads YAML into, kept apart from PyYAML: a parse kept by
``yaml_cache`` is loaded without importing it."""

from __future__ import annotations

from typing import Any


class _Lines:
    __slots__ = ("_at",)

    def __init__(self) -> None:
        self._at: dict[Any, tuple[int, int]] = {}

    def key(self, key: Any) -> tuple[int, int]:
        return self._at[key]

    def item(self, index: int) -> tuple[int, int]:
        return self._at[index]


class LineDict(dict):
    """A mapping read from YAML; ``lc.key(k)`` is where key ``k`` was written."""

    lc: _Lines


class LineList(list):
    """A list read from YAML; ``lc.item(i)`` is where item ``i`` was written."""

    lc: _Lines
