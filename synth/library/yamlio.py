"""YAML in and out for the user's files: line numbers for errors, comments kept on save.

Reading (``parse_yaml``) uses PyYAML's libyaml parser with YAML 1.2 core-schema scalars (``yes``
and ``on`` stay strings, ``0o17`` is octal, ``1_000`` an int), the same values ruamel.yaml's
round-trip mode gives, about ten times faster: loading the library is on the path to the
TUI's first screen.  Each mapping and list records the line of its keys and items.  On any
error the file is read again with ruamel.yaml so the message is the one users have always got.

Editing (``parse_yaml_document`` + ``dump_yaml``) uses ruamel.yaml's round-trip mode, which
keeps the user's comments, quoting and key order when a file is saved back.

Both build only plain mappings, lists and scalars; no tag can construct a Python object.
"""

from __future__ import annotations

import difflib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

from synth.errors import Collector, LibraryError


def _yaml():
    """ruamel.yaml's round-trip mode, imported on first use: reading the library never needs
    it (libyaml reads it), so the app's first screen and most commands skip its import."""
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never fold a long line the user wrote on one line
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def read_text(path: Path) -> str:
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise LibraryError("no such file", path=path) from None
    except IsADirectoryError:
        raise LibraryError("is a folder, expected a file", path=path) from None
    except OSError as exc:
        raise LibraryError(f"can't read: {exc.strerror}", path=path) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LibraryError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                           "save the file as UTF-8", path=path, line=line) from None


def parse_yaml(text: str, path: Path) -> Any:
    """Read YAML into plain values whose mappings and lists know their lines (for messages).
    The same text from the same file is read from ``yaml_cache`` (no PyYAML import)."""
    from synth.library import yaml_cache

    data = yaml_cache.get(text, path)
    if data is not yaml_cache.MISS:
        return data
    import yaml as pyyaml

    from synth.library.yamlfast import load_with_lines

    try:
        data = load_with_lines(text)
    except (pyyaml.YAMLError, RecursionError):
        return parse_yaml_document(text, path)  # raises with ruamel's message
    yaml_cache.put(text, path, data)
    return data


def parse_yaml_document(text: str, path: Path) -> Any:
    """Read YAML for editing and saving back (ruamel round-trip: comments and quoting kept)."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = (exc.problem or exc.context or "invalid YAML").split(" with value ")[0]
        raise LibraryError(f"YAML syntax error: {problem}", path=path, line=line) from None
    except YAMLError as exc:
        raise LibraryError(f"YAML error: {str(exc).splitlines()[0]}", path=path) from None


def key_lines(mapping: Any) -> dict[str, int]:
    """1-based line of each key of a mapping read here (empty for plain dicts)."""
    out: dict[str, int] = {}
    lc = getattr(mapping, "lc", None)
    if lc is None:
        return out
    for key in mapping:
        try:
            out[str(key)] = lc.key(key)[0] + 1
        except (KeyError, TypeError):
            pass
    return out


def item_line(seq: Any, index: int) -> int | None:
    lc = getattr(seq, "lc", None)
    try:
        return lc.item(index)[0] + 1 if lc is not None else None
    except (KeyError, TypeError, IndexError):
        return None


def unknown_key_message(key: str, allowed: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(allowed))})"
    return f"unknown key {key!r}{hint}"


def load_yaml_mapping(path: Path, *, allowed: set[str] | None, what: str) -> tuple[Any, dict[str, int]]:
    """Load a YAML file whose top level must be a mapping with only ``allowed`` keys (every
    unknown key is reported; None: the caller checks the keys with its other checks)."""
    text = read_text(path)
    data = parse_yaml(text, path)
    if data is None:
        raise LibraryError(f"empty file, expected a {what} mapping", path=path, line=1)
    if not isinstance(data, dict):
        raise LibraryError(f"expected a {what} mapping of key: value, got a {type(data).__name__}",
                           path=path, line=1)
    lines = key_lines(data)
    take = Collector()
    for key in data:
        if allowed is not None and str(key) not in allowed:
            take.add(LibraryError(unknown_key_message(str(key), allowed), path=path,
                                  line=lines.get(str(key)), field=str(key)))
    take.done()
    return data, lines


def dump_yaml(data: Any) -> str:
    buf = io.StringIO()
    _yaml().dump(data, buf)
    return buf.getvalue()


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` so that a crash leaves either the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = (path.stat().st_mode & 0o777) if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
