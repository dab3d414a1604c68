"""Token counting with tiktoken: the right encoding per model, chat overhead, batch counting.

Encodings: o200k_base for gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o-series and gpt-oss; cl100k_base for
gpt-4 and gpt-3.5.  Any other model (a llama, a gemma) is counted with ``DEFAULT_ENCODING`` and
the counter carries a ``note`` saying so: those counts are estimates, and the server's reported
usage is preferred wherever a run has it.

Chat examples are counted the way OpenAI's cookbook does: 3 tokens per message, the tokens of
every string value (role and content included), +1 per ``name``, and +3 priming the reply.

Offline: o200k_base and cl100k_base ship inside the package (synth.bundled_encodings, checked
by SHA-256) and are used whenever tiktoken's own cache (``TIKTOKEN_CACHE_DIR`` or its default)
lacks them, so counting never needs the network; any other encoding that can't be loaded
raises ``TokenizerUnavailable`` saying which and what to do.  Encoders are built once per
process.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Sequence

from synth.errors import ChatsynthError

DEFAULT_ENCODING = "o200k_base"
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3

# (model-name prefix, encoding), most specific first
_PREFIXES: list[tuple[str, str]] = [
    ("gpt-4o", "o200k_base"), ("chatgpt-4o", "o200k_base"), ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"), ("gpt-5", "o200k_base"), ("gpt-oss", "o200k_base"),
    ("o1", "o200k_base"), ("o3", "o200k_base"), ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"), ("gpt-3.5", "cl100k_base"), ("gpt-35", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"), ("text-embedding-ada-002", "cl100k_base"),
    ("davinci-002", "cl100k_base"), ("babbage-002", "cl100k_base"),
]

# The most tokens one training example may have, per base model (OpenAI fine-tuning guide);
# the cookbook's 16,385 for anything else.
TRAINING_LIMITS: list[tuple[str, int]] = [
    ("gpt-4o-mini", 65_536), ("gpt-4o", 65_536), ("gpt-4.1", 65_536), ("gpt-3.5-turbo", 16_385),
    ("gpt-4", 8_192), ("davinci-002", 16_384), ("babbage-002", 16_384),
]
DEFAULT_TRAINING_LIMIT = 16_385


class TokenizerUnavailable(ChatsynthError):
    """No tiktoken encoding could be loaded (offline and not in the cache)."""


def _base_model(model: str) -> str:
    m = (model or "").strip().lower()
    if m.startswith("ft:"):  # ft:gpt-4o-mini-2024-07-18:org::id
        m = m[3:].split(":", 1)[0]
    return m.rsplit("/", 1)[-1] if m.startswith("openai/") else m


def encoding_for(model: str | None) -> tuple[str, str | None]:
    """(encoding name, note or None).  The note says when the encoding is a stated default."""
    m = _base_model(model or "")
    for prefix, name in _PREFIXES:
        if m == prefix or m.startswith(prefix + "-") or m.startswith(prefix + ".") or (
                prefix[0] == "o" and prefix[1:].isdigit() and m.startswith(prefix)):
            return name, None
    if not model:
        return DEFAULT_ENCODING, (f"no model given: counted with {DEFAULT_ENCODING} (the encoding "
                                  "of gpt-4o and later); pass --model for another")
    return DEFAULT_ENCODING, (f"model {model!r}: not an OpenAI model tiktoken knows; counted with "
                              f"{DEFAULT_ENCODING} as an estimate (the server's reported usage is "
                              "exact where a run has it)")


def training_limit(model: str | None) -> tuple[int, str | None]:
    """(max tokens per training example, note or None) for fine-tuning ``model``."""
    m = _base_model(model or "")
    for prefix, limit in TRAINING_LIMITS:
        if m == prefix or m.startswith(prefix + "-"):
            return limit, None
    return DEFAULT_TRAINING_LIMIT, (f"no known training limit for {model or 'no model'}: using "
                                    f"the cookbook's {DEFAULT_TRAINING_LIMIT:,} tokens per example")


_lock = threading.Lock()


@lru_cache(maxsize=8)
def load_encoding(name: str):
    """The tiktoken encoding ``name``, built once per process."""
    import tiktoken

    from synth import bundled_encodings
    with _lock:
        if name in bundled_encodings.SHA256 and not bundled_encodings.tiktoken_cache_has(name):
            try:
                return bundled_encodings.load_bundled(name)  # no download: the shipped copy
            except ChatsynthError as exc:
                raise TokenizerUnavailable(exc.message, path=exc.path) from None
        try:
            return tiktoken.get_encoding(name)
        except ValueError as exc:
            raise TokenizerUnavailable(f"unknown tiktoken encoding {name!r} ({exc})") from None
        except Exception as exc:  # noqa: BLE001 - network errors come in many types
            cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
            where = f"TIKTOKEN_CACHE_DIR={cache} does not hold it" if cache else "TIKTOKEN_CACHE_DIR is not set"
            raise TokenizerUnavailable(
                f"can't load the tiktoken encoding {name!r}: no network and {where} "
                f"({type(exc).__name__}). Set TIKTOKEN_CACHE_DIR to a folder with tiktoken's "
                "cached encodings (e.g. ../shared/tiktoken-cache), or run once with network access"
            ) from None


@dataclass(frozen=True)
class ChatCount:
    total: int  # the whole example, with the chat overhead
    assistant: int  # the content tokens of assistant messages (what is trained on)
    messages: int
    turns: int = 0  # the content tokens of every message but the system prompt


class TokenCounter:
    """Counts tokens for one model (or one named encoding)."""

    def __init__(self, model: str | None = None, *, encoding: str | None = None,
                 threads: int | None = None) -> None:
        self.model = model or ""
        if encoding:
            self.encoding_name, self.note = encoding, None
        else:
            self.encoding_name, self.note = encoding_for(model)
        self.enc = load_encoding(self.encoding_name)
        self.threads = threads or min(8, (os.cpu_count() or 2))
        self._small: dict[str, int] = {}  # roles, names, system prompts: a few distinct strings

    def count(self, text: str) -> int:
        return len(self.enc.encode_ordinary(text))

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Token counts of many texts.  One thread per slice of the list (tiktoken releases the
        GIL while encoding), not one task per text as ``encode_ordinary_batch`` does."""
        enc = self.enc.encode_ordinary

        def lens(chunk: Sequence[str]) -> list[int]:
            return [len(enc(t)) for t in chunk]

        if self.threads <= 1 or len(texts) < 256:
            return lens(texts)
        size = -(-len(texts) // (self.threads * 4))
        chunks = [texts[i:i + size] for i in range(0, len(texts), size)]
        with ThreadPoolExecutor(self.threads) as ex:
            return [n for part in ex.map(lens, chunks) for n in part]

    def _small_count(self, s: str) -> int:
        n = self._small.get(s)
        if n is None:
            n = self._small[s] = self.count(s)
        return n

    def chat_counts(self, examples: Iterable[Sequence[dict[str, Any]]]) -> list[ChatCount]:
        """Cookbook counts for many chat examples (lists of message dicts) in one batch."""
        fixed: list[int] = []
        spans: list[tuple[int, int, int, int]] = []  # (start, end) of texts, n messages
        texts: list[str] = []
        is_asst: list[bool] = []
        is_turn: list[bool] = []
        for msgs in examples:
            start = len(texts)
            base = REPLY_PRIMING
            for m in msgs:
                base += TOKENS_PER_MESSAGE
                if not isinstance(m, dict):
                    continue
                asst = m.get("role") == "assistant"
                system = m.get("role") == "system"
                for key, value in m.items():
                    if key == "role" or key == "name":
                        if isinstance(value, str):
                            base += self._small_count(value)
                        if key == "name":
                            base += TOKENS_PER_NAME
                        continue
                    if isinstance(value, (dict, list)):
                        value = json.dumps(value, ensure_ascii=False)
                    if system and key == "content" and isinstance(value, str) and (
                            value in self._small or len(self._small) < 256):
                        base += self._small_count(value)  # one persona's prompt, every example
                        continue
                    if isinstance(value, str):
                        texts.append(value)
                        is_asst.append(asst and key == "content")
                        is_turn.append(not system and key == "content")
            fixed.append(base)
            spans.append((start, len(texts), len(msgs), 0))
        lens = self.count_many(texts)
        out = []
        for base, (s, e, n, _) in zip(fixed, spans):
            total = base + sum(lens[s:e])
            asst = sum(lens[k] for k in range(s, e) if is_asst[k])
            turns = sum(lens[k] for k in range(s, e) if is_turn[k])
            out.append(ChatCount(total=total, assistant=asst, messages=n, turns=turns))
        return out

    def chat_tokens(self, messages: Sequence[dict[str, Any]]) -> int:
        return self.chat_counts([messages])[0].total


@lru_cache(maxsize=16)
def counter_for(model: str | None = None) -> TokenCounter:
    """A shared counter per model (encoders and role counts built once)."""
    return TokenCounter(model)


def usage_of(convs: Sequence[Any]) -> tuple[int, int, int]:
    """(prompt, completion, how many were counted here) tokens of stored conversations.

    The server's reported usage wins wherever a conversation has it (exact for any model,
    including the embedded one); the rest (``usage.source == "estimate"``) are counted with
    tiktoken from the prompt and the raw text, with the model's encoding or the stated default.
    """
    p = c = 0
    todo = []
    for conv in convs:
        if conv.usage.source == "server":
            p += conv.usage.prompt_tokens
            c += conv.usage.completion_tokens
        else:
            todo.append(conv)
    by_model: dict[str, list[Any]] = {}
    for conv in todo:
        by_model.setdefault(conv.model, []).append(conv)
    for model, group in by_model.items():
        counts = counter_for(model or None).count_many([x for conv in group for x in (conv.prompt, conv.raw_text)])
        p += sum(counts[0::2])
        c += sum(counts[1::2])
    return p, c, len(todo)
