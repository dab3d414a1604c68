"""Render a persona's synthesis prompt for one topic.

Completion style: the prompt is text that ends with a speaker label (usually the user's), so a
base model continues the transcript.  Chat style: the rendered prompt is the user message of a
chat request, and the model writes the whole labelled transcript.

The template uses ``str.format`` syntax ({topic}, {context}, {name}, {description},
{persona_label}, {user_label}; ``{{`` for a literal brace).  Unknown placeholders are a library
validation concern; here they are left as written, and rendering never raises.

Few-shot examples (the persona's ``examples``): each conversation gets up to
``examples_per_prompt`` of them, drawn with a seed from its own id (``key``) so different
conversations see different examples.  Completion style puts them before the prompt as earlier
transcripts in the same labels, each closed by the persona's first stop sequence (say "END OF
CONVERSATION"); chat style adds them to the user message as an example of the format.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from synth.models import ApiStyle, Persona, Role, Topic

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill(template: str, values: dict[str, str]) -> str:
    """``str.format``-like, but unknown or malformed fields stay as written."""

    def sub(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "{{":
            return "{"
        if tok == "}}":
            return "}"
        name = m.group(1)
        return values[name] if name in values else tok

    return _FIELD.sub(sub, template)


@dataclass
class Prompt:
    style: ApiStyle
    text: str  # completion: the whole prompt; chat: the user message
    messages: list[dict[str, Any]] = field(default_factory=list)  # chat only
    first_role: Role | None = None  # the label the prompt ends with (completion)
    examples: list[int] = field(default_factory=list)  # which of the persona's examples it shows


def values_for(persona: Persona, topic: Topic) -> dict[str, str]:
    return {
        "topic": topic.text,
        "context": topic.context or topic.text,
        "name": persona.name,
        "description": persona.description,
        "persona_label": persona.persona_label,
        "user_label": persona.user_label,
    }


def pick_examples(persona: Persona, key: str | None) -> list[int]:
    """Which of the persona's examples a conversation sees: a draw seeded by its id."""
    n = min(persona.examples_per_prompt, len(persona.all_examples()))
    if n <= 0:
        return []
    return random.Random(f"examples:{key or ''}").sample(range(len(persona.all_examples())), n)


def render(persona: Persona, topic: Topic, style: ApiStyle | None = None,
           key: str | None = None) -> Prompt:
    """The prompt for one conversation; ``key`` (its id) picks its examples."""
    style = style or persona.style
    body = fill(persona.synthesis_prompt, values_for(persona, topic))
    chosen = pick_examples(persona, key)
    examples = persona.all_examples()
    shown = [examples[i].strip() for i in chosen]
    if style == "chat":
        text = _strip_trailing_label(body, persona).rstrip()
        if shown:
            text += ("\n\nAn example of the format (on another topic):\n\n"
                     + "\n\n".join(shown))
        return Prompt(style="chat", text=text, messages=[{"role": "user", "content": text}],
                      examples=chosen)
    ending = _trailing_role(body, persona)
    if ending is None:
        body = body.rstrip() + f"\n\n{persona.user_label}:"
        ending = "user"
    else:
        body = body.rstrip()
    if shown:
        end = next((s.strip() for s in persona.stop if s.strip()), "")
        body = "".join(e + (f"\n{end}" if end and not e.endswith(end) else "") + "\n\n"
                       for e in shown) + body
    return Prompt(style="completion", text=body, first_role=ending, examples=chosen)


def _trailing_role(text: str, persona: Persona) -> Role | None:
    last = text.rstrip().rsplit("\n", 1)[-1].strip()
    if not last.endswith(":"):
        return None
    lab = last[:-1].strip().lower()
    if lab == persona.user_label.strip().lower():
        return "user"
    if lab in (persona.persona_label.strip().lower(), persona.name.strip().lower()):
        return "assistant"
    return None


def _strip_trailing_label(text: str, persona: Persona) -> str:
    """A chat model is told to write the transcript; a dangling "USER:" line would confuse it."""
    if _trailing_role(text, persona) is None:
        return text
    return text.rstrip().rsplit("\n", 1)[0]
