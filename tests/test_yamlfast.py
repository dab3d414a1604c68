"""The fast YAML reader gives the values ruamel.yaml's round-trip mode gives (what the library
read before), with the same lines, and errors keep ruamel's message."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from synth.errors import LibraryError
from synth.library.yamlfast import load_with_lines
from synth.library.yamlio import item_line, key_lines, parse_yaml, parse_yaml_document

REPO = Path(__file__).resolve().parent.parent

SCALARS = [
    "yes", "no", "on", "off", "True", "TRUE", "false", "~", "null", "", "0o17", "017", "0x1F",
    "1_000", "-3", "+3", "1e3", ".5", "1.", "3.25e-2", "+.inf", "-.inf", ".nan", "2024-01-01",
    "2024-01-01 10:00:00", "1:20", "0b101", '"017"', "'yes'", "12abc", "0.8", "700",
    '"a\\nb"', "|\n  x\n  y\n", ">\n  x\n  y\n", "|-\n  kept\n", "[1, yes, 2.5]", "{k: on}",
]


def _plain(v):
    if isinstance(v, dict):
        return {_plain(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, str):
        return str(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return int(v)  # ruamel's ScalarInt, OctalInt, ... are ints
    if isinstance(v, float):
        return float(v)
    return v


def _ruamel(text: str):
    return YAML(typ="rt").load(text)


@pytest.mark.parametrize("scalar", SCALARS)
def test_scalars_read_as_ruamel_reads_them(scalar):
    text = f"a: {scalar}\n"
    want, got = _ruamel(text)["a"], load_with_lines(text)["a"]
    assert _plain(got) == _plain(want)
    assert type(_plain(got)) is type(_plain(want))


def test_every_shipped_yaml_file_reads_the_same_with_the_same_lines():
    files = sorted([*REPO.glob("personas/*.yaml"), *REPO.glob("topics/*.yaml"),
                    REPO / "chatsynth.yaml"])
    assert len(files) >= 6
    for path in files:
        text = path.read_text(encoding="utf-8")
        want, got = _ruamel(text), load_with_lines(text)
        assert _plain(got) == _plain(want), path
        assert key_lines(got) == key_lines(want), path
        for key, value in want.items():
            if isinstance(value, list):
                assert [item_line(got[key], i) for i in range(len(value))] == \
                       [item_line(value, i) for i in range(len(value))], (path, key)


def test_a_duplicate_key_is_an_error_on_its_line(tmp_path):
    path = tmp_path / "p.yaml"
    with pytest.raises(LibraryError) as err:
        parse_yaml("name: Eve\ndescription: x\nname: Evelyn\n", path)
    assert err.value.line == 3 and "duplicate key" in str(err.value)


@pytest.mark.parametrize("text", ["name: [unclosed\n", "a: 1\n b: 2\n", "a: *nope\n", "- a\nb: 1\n"])
def test_syntax_errors_keep_ruamel_messages(tmp_path, text):
    path = tmp_path / "bad.yaml"
    with pytest.raises(LibraryError) as fast:
        parse_yaml(text, path)
    with pytest.raises(LibraryError) as rt:
        parse_yaml_document(text, path)
    assert str(fast.value) == str(rt.value) and fast.value.line == rt.value.line


def test_libyaml_parses_where_pyyaml_has_it():
    """PyYAML's package does not export ``CParser`` at its top level (only from ``yaml.cyaml``):
    looking for it there fell back to the pure-Python parser, several times slower, on every
    persona and topic file read (the Library's first screen waits for them)."""
    import yaml

    import synth.library.yamlfast as yamlfast

    if yaml.__with_libyaml__:  # the project's dependency wheels all carry libyaml
        from yaml.cyaml import CParser

        assert issubclass(yamlfast._Loader, CParser)
    assert load_with_lines("a: [1, 2]\n") == {"a": [1, 2]}
