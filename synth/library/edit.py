"""Edit one field of a persona or one topic of a list in place, keeping the file's comments:
`chatsynth personas NAME --set key=value` and `chatsynth topics NAME --remove / --rename`.

A persona change is validated exactly as the loader validates the file (synth.library.personas) and
saved through ``save_persona`` (the app's save); a value that is not valid changes nothing and
the error names the file, the key's line and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synth.errors import LibraryError
from synth.library.personas import PERSONA_KEYS, persona_from_mapping, save_persona
from synth.library.topics import SUBTOPICS_OF, load_topic_source, yaml_item
from synth.models import SAMPLING_FIELDS, Persona, Topic, TopicSource
from synth.library.yamlio import (
    atomic_write_text, dump_yaml, key_lines, parse_yaml, parse_yaml_document, read_text,
    unknown_key_message,
)

# values read as YAML (a number, a list, a mapping); every other field is taken as plain text
_YAML_VALUED = {"temperature", "max_tokens", "stop", "rules", *SAMPLING_FIELDS, "examples",
                "examples_per_prompt"}
_BLANK_UNSETS = {"stop", "rules", "examples", *SAMPLING_FIELDS}  # key= clears these


def parse_assignment(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise LibraryError(f"expected key=value, got {text!r}", field="--set")
    return key, value


def set_persona_fields(persona: Persona, assignments: list[str]) -> Persona:
    """Set ``key=value`` pairs in the persona's file; all of them or none."""
    path = Path(persona.path or "")
    if persona.path is None or not path.is_file():
        raise LibraryError("this persona has no file (was it deleted?)", field="path")
    doc = parse_yaml_document(read_text(path), path)
    if not isinstance(doc, dict):
        raise LibraryError("expected a persona mapping of key: value", path=path, line=1)
    lines = key_lines(doc)
    data: dict[str, Any] = dict(doc)
    for item in assignments:
        key, raw = parse_assignment(item)
        if key not in PERSONA_KEYS:
            raise LibraryError(unknown_key_message(key, PERSONA_KEYS), path=path, field=key)
        data[key] = _value(key, raw, path)
    persona_id = path.stem
    new = persona_from_mapping(data, path, persona_id, lines)  # the loader's checks
    save_persona(new, path)  # the app's save: unchanged fields keep their text and comments
    return new


def add_example(persona: Persona, turns: list[tuple[str, str]]) -> tuple[Persona, int]:
    """Append a conversation (``(role, text)`` turns) to the persona's ``examples:`` in its file,
    as it is now on disk (comments kept); returns the saved persona and the example's number."""
    from synth.library.examples import ExampleError, example_turns
    from synth.library.personas import load_persona

    path = Path(persona.path or "")
    if persona.path is None or not path.is_file():
        raise LibraryError(f"persona {persona.id!r} has no file here (was it deleted?)",
                           field="examples")
    current = load_persona(path)
    labels = {"user": current.user_label, "assistant": current.persona_label}
    text = "".join(f"{labels[role]}: {body.strip()}\n" for role, body in turns)
    try:
        example_turns(text, current.user_label, current.persona_label)
    except ExampleError as exc:
        raise LibraryError(f"this conversation can't be an example: {exc}", path=path,
                           field="examples") from None
    if text in current.examples:
        raise LibraryError("this conversation is already one of the persona's examples",
                           path=path, field="examples")
    current.examples.append(text)
    save_persona(current, path)
    return current, len(current.examples)


def _value(key: str, raw: str, path: Path) -> Any:
    if key not in _YAML_VALUED:
        return raw  # text as given (a shell's $'...' passes newlines)
    if not raw.strip():
        return None if key in _BLANK_UNSETS else raw
    try:
        return parse_yaml(raw, Path(f"--set {key}"))
    except LibraryError as err:
        raise LibraryError(f"not a valid value ({err.message})", path=path, field=key) from None


# -- topics ---------------------------------------------------------------------------------------

def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _check_list(source: TopicSource) -> Path:
    path = Path(source.path or "")
    if source.kind == "folder":
        raise LibraryError("a folder of documents is edited as files, not as a list", path=path,
                           field="topics")
    if not path.is_file():
        raise LibraryError("this topic source has no file (was it deleted?)", path=path)
    return path


def _index_of(source: TopicSource, text: str, path: Path) -> int:
    for i, t in enumerate(source.topics):
        if _norm(t.text) == _norm(text):
            return i
    raise LibraryError(f"no topic {text!r} in this list ({len(source.topics)} topics; "
                       f"`chatsynth topics {source.id}` lists them)", path=path, field="topics")


def remove_topic(source: TopicSource, text: str) -> TopicSource:
    """Remove one topic (matched ignoring case and spacing); comments stay."""
    return _edit(source, text, None)


def rename_topic(source: TopicSource, old: str, new: str) -> TopicSource:
    """Reword one topic in place; refused when the new text is empty or already in the list."""
    return _edit(source, old, new)


def _edit(source: TopicSource, text: str, new: str | None) -> TopicSource:
    path = _check_list(source)
    i = _index_of(source, text, path)
    if new is not None:
        new = " ".join(new.split())
        if not new:
            raise LibraryError("the new topic is empty", path=path, field="topics")
        for j, t in enumerate(source.topics):
            if j != i and _norm(t.text) == _norm(new):
                raise LibraryError(f"{t.text!r} is already in the list"
                                   + (f" (line {t.source_line})" if t.source_line else "")
                                   + "; nothing was renamed", path=path, field="topics")
    if source.kind == "yaml":
        doc = parse_yaml_document(read_text(path), path)
        seq = doc.get("topics") if isinstance(doc, dict) else doc
        k = [j for j, item in enumerate(seq)
             if _norm(_item_text(item)) == _norm(source.topics[i].text)][0]
        if new is None:
            del seq[k]
        elif isinstance(seq[k], dict):
            seq[k]["topic"] = new  # a subtopic keeps where it came from
        else:
            seq[k] = new
        out = dump_yaml(doc)
    else:  # a text file: one topic a line, comment lines kept as they are
        src_lines = read_text(path).splitlines()
        n = source.topics[i].source_line - 1  # type: ignore[operator]
        if new is None:
            del src_lines[n]
        else:
            src_lines[n] = new
        out = "\n".join(src_lines) + "\n"
    atomic_write_text(path, out)
    return load_topic_source(path)


def _item_text(item: Any) -> str:
    return str(item.get("topic", "")) if isinstance(item, dict) else str(item)


def add_topics(source: TopicSource, texts: list[str], parent: str | None = None) -> TopicSource:
    """Append topics to a list, leaving every other line (comments too) as it is; with
    ``parent`` they are recorded as its subtopics (a text list: under a ``# subtopics of:``
    line; a YAML list: ``{topic: ..., from: ...}`` items).  All or nothing: a repeat of a topic
    already there refuses the lot."""
    path = _check_list(source)
    texts = [" ".join(t.split()) for t in texts]
    have = {_norm(t.text): t for t in source.topics}
    seen: set[str] = set()
    for t in texts:
        if not t:
            raise LibraryError("empty topic; nothing was added", path=path, field="topics")
        if _norm(t) in have or _norm(t) in seen:
            raise LibraryError(f"{t!r} is already in the list; nothing was added", path=path,
                               field="topics")
        seen.add(_norm(t))
    if not texts:
        return source
    if source.kind == "yaml":
        doc = parse_yaml_document(read_text(path), path)
        seq = doc.get("topics") if isinstance(doc, dict) else doc
        if seq is None and isinstance(doc, dict):
            from ruamel.yaml.comments import CommentedSeq
            seq = doc["topics"] = CommentedSeq()
        for t in texts:
            seq.append(yaml_item(Topic(text=t, parent=parent)))
        out = dump_yaml(doc)
    else:
        old = read_text(path)
        lines = old.splitlines()
        if parent:
            block = ([""] if lines and lines[-1].strip() else []) + [f"{SUBTOPICS_OF} {parent}"]
        else:  # after a block of subtopics, a blank line ends the block
            ends_in_tree = bool(source.topics and source.topics[-1].parent)
            block = [""] if ends_in_tree and lines and lines[-1].strip() else []
        out = "\n".join(lines + block + texts) + "\n"
    atomic_write_text(path, out)
    return load_topic_source(path)
