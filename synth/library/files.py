"""The library's files: create, copy, rename and delete personas and topic lists, and replace a
list's topics.  Each operation checks the name, never overwrites another file, and reads the
result back through synth.library.personas, so what it returns is what the next load will see.

Used by the app's Library screen and by `chatsynth personas` / `chatsynth topics`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from synth import checks
from synth.errors import LibraryError
from synth.library.personas import load_persona, save_persona
from synth.library.topics import load_topic_source, save_topic_source
from synth.models import Persona, Topic, TopicSource

NEW_PERSONA = Persona(
    id="new",
    name="New persona",
    description="Who they are, in one sentence.",
    persona_label="BOT",
    user_label="USER",
    system_prompt="You are a helpful assistant.",
    synthesis_prompt=(
        "The following is a transcript of a conversation with {name}. {description}\n"
        "Each turn starts with {user_label}: or {persona_label}:. The conversation ends with "
        "the line END OF CONVERSATION.\n\nTopic: {topic}\n\n{user_label}:\n"
    ),
    stop=["END OF CONVERSATION", "\nTopic:"],
)


def check_id(new_id: str, what: str = "name") -> str:
    return checks.name(new_id, field=what, error=LibraryError)


def free_persona_path(personas_dir: Path, persona_id: str) -> Path:
    persona_id = check_id(persona_id)
    for suffix in (".yaml", ".yml"):
        p = personas_dir / f"{persona_id}{suffix}"
        if p.exists():
            raise LibraryError(f"a persona named {persona_id!r} already exists", path=p)
    return personas_dir / f"{persona_id}.yaml"


def new_persona(personas_dir: Path, persona_id: str) -> Persona:
    """A persona file from a template, ready to edit."""
    path = free_persona_path(personas_dir, persona_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    persona = Persona(**{**NEW_PERSONA.__dict__, "id": path.stem, "stop": list(NEW_PERSONA.stop)})
    save_persona(persona, path)
    return load_persona(path)


def duplicate_persona(persona: Persona, new_id: str) -> Persona:
    """A copy of the persona's file, comments and all."""
    src = _persona_file(persona)
    dest = free_persona_path(src.parent, new_id)
    shutil.copyfile(src, dest)
    return load_persona(dest)


def rename_persona(persona: Persona, new_id: str) -> Persona:
    src = _persona_file(persona)
    dest = free_persona_path(src.parent, new_id)
    src.rename(dest)
    return load_persona(dest)


def delete_persona(persona: Persona) -> None:
    _persona_file(persona).unlink()


def _persona_file(persona: Persona) -> Path:
    if persona.path is None or not Path(persona.path).exists():
        raise LibraryError("this persona has no file (was it deleted?)", field="path")
    return Path(persona.path)


def new_topic_source(topics_dir: Path, source_id: str) -> TopicSource:
    """An empty YAML topic list (``topics: []``), ready for topics to be added."""
    source_id = check_id(source_id)
    for p in topics_dir.glob(f"{source_id}*"):
        if p.stem == source_id:
            raise LibraryError(f"a topic source named {source_id!r} already exists", path=p)
    path = topics_dir / f"{source_id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    src = TopicSource(id=source_id, kind="yaml", topics=[], path=path)
    save_topic_source(src, path)
    return load_topic_source(path)


def require_topics(source: TopicSource) -> None:
    """Refuse to start a run on a list with no topics (an empty list is valid, not runnable)."""
    if not source.topics:
        raise LibraryError(f"no topics yet in {source.id!r}; add some first (`chatsynth topics "
                           f"{source.id} --add TOPIC` or the Library screen)", path=source.path,
                           field="topics")


def delete_topic_source(source: TopicSource) -> None:
    path = Path(source.path or "")
    if source.kind == "folder":
        raise LibraryError("a folder of documents is deleted in your file manager, not here",
                           path=path)
    if not path.is_file():
        raise LibraryError("this topic source has no file (was it deleted?)", path=path)
    path.unlink()


def save_topics(source: TopicSource, texts: list[str]) -> TopicSource:
    """Replace a list's topics (validated: no duplicates, none empty) and save it."""
    texts = [" ".join(t.split()) for t in texts]
    for i, t in enumerate(texts):
        if not t:
            raise LibraryError("empty topic", path=source.path, field=f"topics[{i}]")
    parents = {" ".join(t.text.split()).casefold(): t.parent for t in source.topics}
    new = TopicSource(id=source.id, kind=source.kind, path=source.path, persona=source.persona,
                      topics=[Topic(text=t, parent=parents.get(t.casefold())) for t in texts])
    save_topic_source(new, source.path)
    return load_topic_source(Path(source.path))  # type: ignore[arg-type]


def new_topics(existing: list[str], candidates: list[str]) -> list[str]:
    """The candidates worth adding to a list holding ``existing``: whitespace tidied, in order,
    without empty ones or any already there or repeated (case does not count)."""
    seen = {" ".join(t.split()).casefold() for t in existing}
    fresh = []
    for text in (" ".join(t.split()) for t in candidates):
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            fresh.append(text)
    return fresh


def read_topic_lines(path: Path) -> list[str]:
    """Topics from a text file: one a line, blank lines and # comments skipped."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LibraryError("no such file", path=path) from None
    except IsADirectoryError:
        raise LibraryError("is a folder, not a text file", path=path) from None
    except UnicodeDecodeError:
        raise LibraryError("not UTF-8 text", path=path) from None
    except OSError as exc:
        raise LibraryError(exc.strerror or str(exc), path=path) from None
    out = []
    for line in text.splitlines():
        s = " ".join(line.split())
        if s and not s.startswith("#"):
            out.append(s)
    return out
