"""Load, validate and save topic sources: a text file (one topic a line), a YAML list or a
mapping with ``persona:`` and ``topics:``, or a folder of documents (each one context).

Every problem is a LibraryError naming file, line and field; a repeated topic is named with both
lines.  Saving keeps the file's comments.
"""

from __future__ import annotations

from pathlib import Path

from synth.errors import Collector, LibraryError
from synth.library.personas import type_error
from synth.library.yamlio import (
    atomic_write_text, dump_yaml, item_line, key_lines, parse_yaml, parse_yaml_document,
    read_text, unknown_key_message,
)
from synth.models import Topic, TopicSource

TOPIC_FILE_KEYS = {"topics", "persona", "description"}
DOC_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".html", ".htm", ".text"}
TOPIC_SUFFIXES = {".yaml", ".yml", ".txt"}
# a text list's tree: this comment line names the parent of the topics under it (to a blank line)
SUBTOPICS_OF = "# subtopics of:"
ITEM_KEYS = {"topic", "from"}  # a YAML list's item may be {topic: TEXT, from: PARENT}

def _dedupe_check(topics: list[Topic], path: Path) -> None:
    """Refuse repeated topics (case and spacing do not count), naming every repeat.  Topics
    read from a file name their lines; a list about to be saved names topic numbers."""
    take = Collector()
    seen: dict[str, int] = {}
    for i, t in enumerate(topics):
        key = " ".join(t.text.split()).casefold()
        if key in seen:
            first = topics[seen[key]]
            if t.source_line is not None:
                where = f" (first on line {first.source_line})" if first.source_line else ""
                take.add(LibraryError(f"duplicate topic {t.text!r}{where}", path=path,
                                      line=t.source_line, field="topics"))
            else:
                take.add(LibraryError(f"duplicate topic {t.text!r} (the same as topic "
                                      f"{seen[key] + 1})", path=path, field=f"topic {i + 1}"))
        else:
            seen[key] = i
    take.done()


def load_topic_source(path: Path) -> TopicSource:
    path = Path(path)
    if path.is_dir():
        return _load_folder(path)
    if path.suffix in (".yaml", ".yml"):
        return _load_yaml_topics(path)
    return _load_text_topics(path)


def _load_text_topics(path: Path) -> TopicSource:
    text = read_text(path)
    topics = []
    parent = None
    for n, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if s.lower().startswith(SUBTOPICS_OF):
            parent = " ".join(s[len(SUBTOPICS_OF):].split()) or None
        if not s:
            parent = None
        if not s or s.startswith("#"):
            continue
        topics.append(Topic(text=s, source_line=n, parent=parent))
    _dedupe_check(topics, path)
    return TopicSource(id=path.stem, kind="text", topics=topics, path=path)


def _load_yaml_topics(path: Path) -> TopicSource:
    data = parse_yaml(read_text(path), path)
    persona = None
    if isinstance(data, dict):
        lines = key_lines(data)
        for key in data:
            if str(key) not in TOPIC_FILE_KEYS:
                raise LibraryError(unknown_key_message(str(key), TOPIC_FILE_KEYS), path=path,
                                   line=lines.get(str(key)), field=str(key))
        if "topics" not in data:
            raise LibraryError("required field is missing", path=path, line=1, field="topics")
        persona = data.get("persona")
        if persona is not None and not isinstance(persona, str):
            raise type_error("a persona name", persona, path=path, line=lines.get("persona"),
                              field="persona")
        items = data["topics"]
        base_line = lines.get("topics")
    elif data is None:
        raise LibraryError("empty file, expected a list of topics", path=path, line=1, field="topics")
    else:
        items, base_line = data, 1
    if items is None:
        items = []
    if not isinstance(items, list):
        raise type_error("a list of topics", items, path=path, line=base_line, field="topics")
    topics, take = [], Collector()
    for i, item in enumerate(items):
        line = item_line(items, i) or base_line
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = str(item)
        parent = None
        if isinstance(item, dict):
            item, parent = _tree_item(item, path, line, i, take)
            if item is None:
                continue
        if not isinstance(item, str):
            take.add(type_error("a topic (one line of text)", item, path=path, line=line,
                                 field=f"topics[{i}]"))
        elif not item.strip():
            take.add(LibraryError("empty topic", path=path, line=line, field=f"topics[{i}]"))
        else:
            topics.append(Topic(text=" ".join(item.split()), source_line=line, parent=parent))
    if topics or not take.errors:
        take(_dedupe_check, topics, path)
    take.done()
    return TopicSource(id=path.stem, kind="yaml", topics=topics, path=path, persona=persona)


def _tree_item(item: dict, path: Path, line: int | None, i: int, take: Collector):
    """``{topic: TEXT, from: PARENT}`` -> (TEXT, PARENT); a problem is collected, (None, None)."""
    for key in item:
        if str(key) not in ITEM_KEYS:
            take.add(LibraryError(unknown_key_message(str(key), ITEM_KEYS), path=path, line=line,
                                  field=f"topics[{i}]"))
            return None, None
    text, parent = item.get("topic"), item.get("from")
    if not isinstance(text, str) or (parent is not None and not isinstance(parent, str)):
        take.add(type_error("a topic (one line of text)", text if not isinstance(text, str)
                            else parent, path=path, line=line, field=f"topics[{i}]"))
        return None, None
    return text, (" ".join(parent.split()) or None) if parent else None


def yaml_item(topic: Topic):
    """How a topic is written in a YAML list: its text, or {topic, from} for a subtopic."""
    if not topic.parent:
        return " ".join(topic.text.split())
    from ruamel.yaml.comments import CommentedMap

    m = CommentedMap()
    m["topic"] = " ".join(topic.text.split())
    m["from"] = topic.parent
    m.fa.set_flow_style()
    return m


def _load_folder(path: Path) -> TopicSource:
    topics = []
    for f in sorted(path.iterdir()):
        if f.name.startswith(".") or not f.is_file() or f.suffix.lower() not in DOC_SUFFIXES:
            continue
        text = read_text(f).strip()
        if not text:
            raise LibraryError("empty document", path=f, line=1, field="context")
        topics.append(Topic(text=f.stem, context=text))
    if not topics:
        raise LibraryError("no documents in this folder (looked for "
                           + ", ".join(sorted(DOC_SUFFIXES)) + ")", path=path, field="topics")
    return TopicSource(id=path.name, kind="folder", topics=topics, path=path)


def topic_paths(ws) -> list[Path]:
    d = ws.topics_dir
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if not p.name.startswith((".", "_"))
                  and (p.is_dir() or p.suffix in TOPIC_SUFFIXES))


def load_topic_sources(ws) -> tuple[list[TopicSource], list[LibraryError]]:
    out, errors = [], []
    for p in topic_paths(ws):
        try:
            out.append(load_topic_source(p))
        except LibraryError as err:
            errors.append(err)
    return out, errors


def find_topics(ws, name_or_path: str) -> TopicSource:
    cand = Path(name_or_path).expanduser()
    if cand.exists() and (cand.is_dir() or cand.suffix in TOPIC_SUFFIXES):
        return load_topic_source(cand)
    for p in topic_paths(ws):
        if p.stem == name_or_path or p.name == name_or_path:
            return load_topic_source(p)
    known = ", ".join(p.stem for p in topic_paths(ws)) or "none"
    raise LibraryError(f"no topic source {name_or_path!r} in {ws.topics_dir} (have: {known})",
                       field="topics")


def _text_lines(header: list[str], topics: list[Topic], texts: list[str]) -> list[str]:
    """A text list's lines: a run of subtopics goes under a ``# subtopics of:`` line and ends
    at a blank line, so reordering or editing a list keeps which topic each came from."""
    lines = list(header)
    group = None
    for topic, text in zip(topics, texts):
        parent = " ".join(topic.parent.split()) if topic.parent else None
        if parent != group:
            if group is not None or (parent and lines):
                lines.append("")
            if parent:
                lines.append(f"{SUBTOPICS_OF} {parent}")
            group = parent
        lines.append(text)
    return lines


def save_topic_source(source: TopicSource, path: Path | None = None) -> Path:
    """Write a topic list back (text: one a line, keeping comment lines; YAML: keeping comments)."""
    path = Path(path or source.path or "")
    if source.kind == "folder":
        raise LibraryError("a folder of documents is edited as files, not saved as a list",
                           path=path, field="topics")
    texts = [" ".join(t.text.split()) for t in source.topics]
    items = [yaml_item(t) for t in source.topics]  # subtopics keep where they came from
    tmp = TopicSource(id=source.id, kind=source.kind,
                      topics=[Topic(text=t) for t in texts])  # not in the file yet: no lines
    _dedupe_check(tmp.topics, path)
    if path.suffix in (".yaml", ".yml"):
        doc = None
        if path.exists():
            try:
                doc = parse_yaml_document(read_text(path), path)
            except LibraryError:
                doc = None
        if isinstance(doc, dict):
            doc["topics"] = items
        else:
            from ruamel.yaml.comments import CommentedMap

            doc = CommentedMap()
            if source.persona:
                doc["persona"] = source.persona
            doc["topics"] = items
        text = dump_yaml(doc)
    else:
        header = []
        if path.exists():
            try:
                for line in read_text(path).splitlines():
                    if line.strip().lower().startswith(SUBTOPICS_OF):
                        break  # the tree is written again from the topics' parents
                    if line.strip().startswith("#"):
                        header.append(line)
                    elif line.strip():
                        break
            except LibraryError:
                header = []
        text = "\n".join(_text_lines(header, source.topics, texts)) + "\n"
    atomic_write_text(path, text)
    source.path = path
    return path
