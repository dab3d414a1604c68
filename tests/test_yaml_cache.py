"""Parsed YAML kept between launches (synth/library/yaml_cache.py): the same text from the
same file gives the same values and lines without PyYAML; anything else is parsed again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from synth.errors import LibraryError
from synth.library import yaml_cache
from synth.library.yamlio import key_lines, parse_yaml, read_text

REPO = Path(__file__).resolve().parent.parent

TEXT = "name: Eve\nsampling:\n  top_p: 0.9\nstop:\n  - 'USER:'\n  - END\nwhen: 2024-01-01\n"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("CHATSYNTH_YAML_CACHE", str(d))
    return d


def test_a_second_read_of_the_same_text_comes_from_the_cache(tmp_path, cache):
    f = tmp_path / "eve.yaml"
    f.write_text(TEXT)
    first = parse_yaml(read_text(f), f)
    assert len(list(cache.glob("*.pickle"))) == 1
    assert oct(next(cache.glob("*.pickle")).stat().st_mode & 0o777) == "0o600"
    kept = yaml_cache.get(read_text(f), f)
    assert kept is not yaml_cache.MISS
    again = parse_yaml(read_text(f), f)
    assert again == first == kept and again is not first
    # the lines the error messages name come back too
    assert key_lines(again) == key_lines(first) == {"name": 1, "sampling": 2, "stop": 4, "when": 7}
    assert again["stop"].lc.item(1) == first["stop"].lc.item(1) == (5, 4)
    again["stop"].append("x")  # a caller changing what it got changes nothing kept
    assert parse_yaml(read_text(f), f) == first


def test_changed_text_is_parsed_again_and_replaces_the_entry(tmp_path, cache):
    f = tmp_path / "eve.yaml"
    f.write_text(TEXT)
    parse_yaml(read_text(f), f)
    f.write_text(TEXT.replace("Eve", "Eva"))  # same size, maybe the same mtime: the text decides
    assert yaml_cache.get(read_text(f), f) is yaml_cache.MISS
    assert parse_yaml(read_text(f), f)["name"] == "Eva"
    assert len(list(cache.glob("*.pickle"))) == 1
    assert yaml_cache.get(read_text(f), f)["name"] == "Eva"


def test_a_parse_that_fails_is_not_kept_and_still_names_the_line(tmp_path, cache):
    f = tmp_path / "bad.yaml"
    f.write_text("name: Eve\nstop: [unclosed\n")
    with pytest.raises(LibraryError) as err:
        parse_yaml(read_text(f), f)
    assert err.value.line is not None and "bad.yaml" in str(err.value)
    assert not list(cache.glob("*.pickle"))


def test_a_broken_or_foreign_entry_is_a_miss(tmp_path, cache):
    f = tmp_path / "eve.yaml"
    f.write_text(TEXT)
    parse_yaml(read_text(f), f)
    entry = next(cache.glob("*.pickle"))
    for junk in (b"", b"not a pickle", entry.read_bytes()[:20]):
        entry.write_bytes(junk)
        assert yaml_cache.get(read_text(f), f) is yaml_cache.MISS
        assert parse_yaml(read_text(f), f)["name"] == "Eve"  # and it is written again
        assert yaml_cache.get(read_text(f), f)["name"] == "Eve"


def test_text_that_is_not_a_file_is_not_kept(tmp_path, cache):
    assert parse_yaml("a: 1\n", Path("--set a")) == {"a": 1}
    assert not cache.exists() or not list(cache.glob("*.pickle"))


def test_a_cache_that_cant_be_written_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("CHATSYNTH_YAML_CACHE", str(blocker / "cache"))  # under a file: no folder
    f = tmp_path / "eve.yaml"
    f.write_text(TEXT)
    assert parse_yaml(read_text(f), f)["name"] == "Eve"
    assert yaml_cache.get(read_text(f), f) is yaml_cache.MISS


LAUNCH = r"""
import sys
from pathlib import Path
from synth.library.workspace import Workspace
from tui.services import Services
ws = Workspace(Path(sys.argv[1]))
s = Services(ws)
print(len(s.personas()[0]), len(s.topic_sources()[0]), "yaml" in sys.modules)
"""


def test_the_library_reads_without_pyyaml_once_its_files_were_read(workspace, cache):
    """What the first screen reads (config, personas, topic lists), in fresh interpreters:
    the first reads with PyYAML, the next without it, with the same library."""
    runs = [subprocess.run([sys.executable, "-c", LAUNCH, str(workspace.root)], cwd=REPO,
                           capture_output=True, text=True, timeout=60) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    first, second = (r.stdout.split() for r in runs)
    assert first[2] == "True" and second[2] == "False"
    assert first[:2] == second[:2] and int(first[0]) > 0 and int(first[1]) > 0
