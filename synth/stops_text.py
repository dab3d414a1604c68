"""Stop sequences (and other text typed on one line) with \\n, \\t and \\\\ escapes, so a sequence
that is itself a newline (or starts with one) can be typed and read: one a line in the app's
fields, one a flag on the command line.  Any other character, non-ASCII included, stays as typed."""

from __future__ import annotations


def escape_stop(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def unescape_stop(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            nxt = s[i + 1]
            out.append({"n": "\n", "t": "\t", "\\": "\\"}.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def stops_to_text(stops: list[str]) -> str:
    return "\n".join(escape_stop(s) for s in stops)


def text_to_stops(text: str) -> list[str]:
    return [unescape_stop(line) for line in text.split("\n") if line.strip() != ""]
