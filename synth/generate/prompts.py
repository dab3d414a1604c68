"""Render a persona's synthesis prompt for one topic.

Completion style: the prompt is text that ends with a speaker label (usually the user's), so a
base model continues the transcript.  Chat style: the rendered prompt is the user message of a
chat request, and the model writes the whole labelled transcript.

The template uses ``str.format`` syntax ({topic}, {context}, {name}, {description},
{persona_label}, {user_label}; ``{{`` for a literal brace).  Unknown placeholders are a library
validation concern; here they are left as written, and rendering never raises.
"""

from __future__ import annotations

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


def values_for(persona: Persona, topic: Topic) -> dict[str, str]:
    return {
        "topic": topic.text,
        "context": topic.context or topic.text,
        "name": persona.name,
        "description": persona.description,
        "persona_label": persona.persona_label,
        "user_label": persona.user_label,
    }


def render(persona: Persona, topic: Topic, style: ApiStyle | None = None) -> Prompt:
    style = style or persona.style
    body = fill(persona.synthesis_prompt, values_for(persona, topic))
    if style == "chat":
        text = _strip_trailing_label(body, persona).rstrip()
        return Prompt(style="chat", text=text, messages=[{"role": "user", "content": text}])
    ending = _trailing_role(body, persona)
    if ending is None:
        body = body.rstrip() + f"\n\n{persona.user_label}:"
        ending = "user"
    else:
        body = body.rstrip()
    return Prompt(style="completion", text=body, first_role=ending)


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
