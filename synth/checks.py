"""The checks every place a user types a value shares: one table of number limits (sampling,
sizes, rates, money), the name rule (personas, topic lists, endpoints) and endpoint URLs.

The persona loader, the persona form, the Synthesize form, chatsynth.yaml and every CLI flag
call these, so a value is refused the same way, with the same words, wherever it is typed.
The optional sampling values (top_p, presence_penalty, frequency_penalty, repeat_penalty) are
listed in ``SAMPLING``: unset means "the server's default", and nothing is sent.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from synth.errors import ChatsynthError


@dataclass(frozen=True)
class Limit:
    """An allowed range: ``kind`` int or float, ``lo``/``hi`` inclusive unless ``above`` (lo < v)."""

    kind: type
    lo: float | None = None
    hi: float | None = None
    above: bool = False  # the value must be more than lo, not equal to it

    def describe(self) -> str:
        lo, hi = self.lo, self.hi
        if lo is not None and hi is not None and self.above:
            return f"more than {lo:g} and at most {hi:g}"
        if lo is not None and hi is not None:
            return f"between {lo:g} and {hi:g}"
        if lo is not None:
            return f"more than {lo:g}" if self.above else f"{lo:g} or more"
        return f"at most {hi:g}" if hi is not None else "a number"


NUMBERS: dict[str, Limit] = {
    # sampling (a persona's values, a run's overrides)
    "temperature": Limit(float, 0, 2),
    "max_tokens": Limit(int, 1, 200_000),
    "top_p": Limit(float, 0, 1, above=True),
    "presence_penalty": Limit(float, -2, 2),
    "frequency_penalty": Limit(float, -2, 2),
    "repeat_penalty": Limit(float, 0, 10, above=True),  # llama.cpp, vLLM: 1 is "no penalty"
    "examples_per_prompt": Limit(int, 0, 20),
    # how much and how fast
    "per_topic": Limit(int, 1, 100_000),
    "limit": Limit(int, 0),
    "until_pass": Limit(int, 1),  # run --until-pass N: conversations that must pass
    "max": Limit(int, 1),  # with --until-pass: the most written now
    "concurrency": Limit(int, 1, 1_000),
    "rpm": Limit(int, 1),
    "tpm": Limit(int, 1),
    "budget": Limit(float, 0),
    "max_stop": Limit(int, 0, 100),
    "timeout": Limit(float, 0, above=True),
    "max_attempts": Limit(int, 1, 100),
    "pause_after": Limit(float, 0, above=True),
    # batch jobs
    "shards": Limit(int, 1, 10_000),
    "max_requests": Limit(int, 1),
    "max_bytes": Limit(int, 1),
    # reports
    "pairs": Limit(int, 0),
}


# optional sampling values: None (unset) sends nothing; repeat_penalty goes in the request's
# extra body, for servers that take it (llama.cpp, vLLM)
SAMPLING = ("top_p", "presence_penalty", "frequency_penalty", "repeat_penalty")


def number(name: str, value: Any, *, field: str | None = None, path: Any = None,
           line: int | None = None, error: type[ChatsynthError] = ChatsynthError) -> int | float:
    """``value`` as the kind ``NUMBERS[name]`` says, or ``error`` naming the field and why."""
    lim = NUMBERS[name]
    where = dict(path=path, line=line, field=field or name)
    is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
    if lim.kind is int and not (isinstance(value, int) and not isinstance(value, bool)):
        raise error(f"expected a whole number, got {_shown(value)}", **where)
    if not is_num:
        raise error(f"expected a number, got {_shown(value)}", **where)
    if not math.isfinite(value):
        raise error(f"must be a finite number, not {value}", **where)
    if ((lim.lo is not None and (value < lim.lo or (lim.above and value == lim.lo)))
            or (lim.hi is not None and value > lim.hi)):
        raise error(f"must be {lim.describe()}, not {value:g}", **where)
    return lim.kind(value)


def number_text(name: str, raw: str, **where: Any) -> int | float | None:
    """A value typed into a form field or a flag: blank is None, else parsed and checked."""
    raw = raw.strip()
    if not raw:
        return None
    value: Any = raw
    for kind in (int, float):
        try:
            value = kind(raw)
            break
        except ValueError:
            pass
    return number(name, value, **where)


def flags(args: Any, names: tuple[str, ...]) -> None:
    """Check each ``--flag`` given (argparse leaves the others None)."""
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            number(name, value, field="--" + name.replace("_", "-"))


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


# -- names and URLs ---------------------------------------------------------------------------

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
NAME_RULE = "a name is one word of letters, digits, '.', '_' or '-' (at most 64 characters)"


def name(value: Any, *, field: str = "name", path: Any = None, line: int | None = None,
         error: type[ChatsynthError] = ChatsynthError) -> str:
    """A persona's, topic list's or endpoint's name: one word, safe as a file name."""
    text = value.strip() if isinstance(value, str) else ""
    if not NAME_RE.match(text):
        shown = f" ({value!r})" if value not in (None, "") else ""
        raise error(NAME_RULE + shown, path=path, line=line, field=field)
    return text


def base_url(value: Any, *, field: str = "base_url", path: Any = None, line: int | None = None,
             error: type[ChatsynthError] = ChatsynthError) -> str:
    """An endpoint's address: http:// or https:// with a host, e.g. http://127.0.0.1:8000/v1."""
    text = value.strip() if isinstance(value, str) else ""
    why = ""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        why = "has a bad port"
    else:
        if parts.scheme not in ("http", "https"):
            why = "must start with http:// or https://"
        elif not parts.hostname:
            why = "has no host"
        elif any(c.isspace() for c in text):
            why = "has a space in it"
    if why:
        raise error(f"{why} (e.g. http://127.0.0.1:8000/v1), got {value!r}"[:200], path=path,
                    line=line, field=field)
    return text
