"""A persona's few-shot examples given as ids of stored conversations (``- conversation: ID``
or ``- conversation: RUN/ID`` under ``examples:``), looked up when a run starts and by
``chatsynth check``.

Each one is the conversation as it stands now (a review edit or a re-trim included), written
in the persona's own labels exactly as an inline example is, and checked the same way.  An id
no run holds, or a conversation written in other speaker labels, is a LibraryError naming the
persona file, the entry's line and its field.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from synth.errors import ChatsynthError, LibraryError
from synth.library.examples import ExampleError, example_turns, ref_position, render_example
from synth.models import Persona


def resolve_examples(store: Any, persona: Persona) -> Persona:
    """The persona with the text of every example it names by id (itself when it names none)."""
    if not persona.example_refs:
        return persona
    texts = [_one(store, persona, ref) for ref in persona.example_refs]
    return dataclasses.replace(persona, resolved_examples=texts)


def _where(persona: Persona, ref: str) -> tuple[int | None, str]:
    """(line, field) of the entry naming ``ref`` in the persona's file, as it is now."""
    raw = None
    if persona.path is not None and persona.path.is_file():
        from synth.library.yamlio import parse_yaml_document, read_text

        try:
            doc = parse_yaml_document(read_text(persona.path), persona.path)
            raw = doc.get("examples") if isinstance(doc, dict) else None
        except ChatsynthError:
            raw = None
    i, line = ref_position(raw, ref)
    return line, f"examples[{i if i is not None else '?'}].conversation"


def _find(store: Any, ref: str) -> tuple[str, Any] | None:
    """(run id, index entry) of the stored conversation ``ref`` names, or None."""
    run_part, _, cid = ref.rpartition("/")
    if run_part:
        try:
            runs = [store.resolve_run(run_part)]
        except ChatsynthError:
            return None
    else:
        runs = store.run_ids()
    for run_id in runs:
        if not store.conversations_path(run_id).exists():
            continue
        entry = store.index(run_id).get(cid)
        if entry is not None:
            return run_id, entry
    return None


def _one(store: Any, persona: Persona, ref: str) -> str:
    def fail(message: str) -> LibraryError:
        line, field = _where(persona, ref)
        return LibraryError(message, path=persona.path, line=line, field=field)

    found = _find(store, ref)
    if found is None:
        raise fail(f"no stored conversation {ref} (chatsynth filter RUN --all lists a run's "
                   "conversation ids)")
    run_id, entry = found
    from synth.curate.review import effective_turns

    try:
        conv = store.read_conversation(run_id, entry)
        source = store.get_spec(run_id).persona
        rec = store.reviews(run_id).get(conv.id)
        stops = store.run_meta(run_id).get("retrim_stops")
    except ChatsynthError as err:
        raise fail(f"conversation {ref} can't be read ({err.message})") from None
    mine = (persona.user_label.casefold(), persona.persona_label.casefold())
    theirs = (source.user_label.casefold(), source.persona_label.casefold())
    if mine != theirs:
        raise fail(f"conversation {ref} (run {run_id}) is in the speaker labels "
                   f"{source.user_label}/{source.persona_label}, not this persona's "
                   f"{persona.user_label}/{persona.persona_label}")
    turns = effective_turns(conv, rec.edited_turns if rec else None, stops, source)
    text = render_example([(t.role, t.text) for t in turns], persona.user_label,
                          persona.persona_label)
    try:
        example_turns(text, persona.user_label, persona.persona_label)
    except ExampleError as exc:
        raise fail(f"conversation {ref} (run {run_id}) can't be an example: {exc}") from None
    return text
