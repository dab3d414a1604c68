"""Token counts equal tiktoken + the cookbook formula; encodings per model; offline: tests/test_tokens_offline.py."""

from __future__ import annotations

import pytest
import tiktoken

from synth.tokens import (DEFAULT_ENCODING, TokenCounter, encoding_for, load_encoding,
                          training_limit)

EXAMPLES = [
    [{"role": "system", "content": "You are Eve, a digital life coach."},
     {"role": "user", "content": "I can't sleep before exams. Any ideas? 😟"},
     {"role": "assistant", "content": "That sounds draining. What does your evening look like?"}],
    [{"role": "system", "content": "Marv is a factual chatbot that is also sarcastic."},
     {"role": "user", "name": "example_user", "content": "What's the capital of France?"},
     {"role": "assistant", "name": "example_assistant", "content": "Paris, as if everyone doesn't know."},
     {"role": "user", "content": "Who wrote 'Romeo and Juliet'?"},
     {"role": "assistant", "content": "Oh, just some guy named William Shakespeare.", "weight": 1}],
    [{"role": "user", "content": "日本語のテキストも数えます。\n\n  Tabs\tand   spaces  "},
     {"role": "assistant", "content": ""}],
]


def cookbook_num_tokens(messages, encoding):
    """OpenAI cookbook's num_tokens_from_messages, written out independently."""
    n = 0
    for message in messages:
        n += 3
        for key, value in message.items():
            if not isinstance(value, str):
                continue
            n += len(encoding.encode(value))
            if key == "name":
                n += 1
    return n + 3


def cookbook_assistant_tokens(messages, encoding):
    return sum(len(encoding.encode(m["content"])) for m in messages if m["role"] == "assistant")


@pytest.mark.parametrize("model,encoding", [("gpt-4o-mini", "o200k_base"), ("gpt-4.1", "o200k_base"),
                                            ("gpt-3.5-turbo", "cl100k_base"), ("gpt-4-0613", "cl100k_base")])
def test_chat_counts_equal_cookbook(model, encoding):
    enc = tiktoken.get_encoding(encoding)
    counter = TokenCounter(model)
    assert counter.encoding_name == encoding and counter.note is None
    counts = counter.chat_counts(EXAMPLES)
    for msgs, c in zip(EXAMPLES, counts):
        assert c.total == cookbook_num_tokens(msgs, enc)
        assert c.assistant == cookbook_assistant_tokens(msgs, enc)
        assert c.messages == len(msgs)
        assert counter.chat_tokens(msgs) == c.total


def test_batch_equals_single_for_many_texts():
    counter = TokenCounter("gpt-4o")
    texts = [f"Line {i}: how are you feeling about week {i % 52}?" * (1 + i % 3) for i in range(500)]
    enc = tiktoken.get_encoding("o200k_base")
    assert counter.count_many(texts) == [len(enc.encode(t)) for t in texts]


@pytest.mark.parametrize("model,expected", [
    ("gpt-4o", "o200k_base"), ("gpt-4o-mini-2024-07-18", "o200k_base"), ("gpt-4.1-nano", "o200k_base"),
    ("o1", "o200k_base"), ("o3-mini", "o200k_base"), ("o4-mini", "o200k_base"), ("gpt-5", "o200k_base"),
    ("gpt-5-mini", "o200k_base"), ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base"),
    ("gpt-4", "cl100k_base"), ("gpt-4-turbo", "cl100k_base"), ("gpt-3.5-turbo-0125", "cl100k_base"),
])
def test_encoding_per_model(model, expected):
    assert encoding_for(model) == (expected, None)


def test_unknown_model_is_a_stated_default():
    name, note = encoding_for("llama3.2")
    assert name == DEFAULT_ENCODING
    assert "llama3.2" in note and "estimate" in note and "reported usage" in note
    assert TokenCounter("gemma-3-270m").note == note.replace("llama3.2", "gemma-3-270m")


def test_training_limits():
    assert training_limit("gpt-4o-mini-2024-07-18") == (65_536, None)
    assert training_limit("gpt-3.5-turbo") == (16_385, None)
    limit, note = training_limit("mistral-7b")
    assert limit == 16_385 and "mistral-7b" in note


def test_encoders_are_built_once():
    assert load_encoding("o200k_base") is load_encoding("o200k_base")
    assert TokenCounter("gpt-4o").enc is TokenCounter("gpt-4o-mini").enc


def test_usage_prefers_server_reports():
    from data.factory import good_conv
    from synth.models import Usage
    from synth.tokens import usage_of

    a = good_conv(k=0)
    a.usage = Usage(11, 22, "server")
    b = good_conv(k=1, model="llama3.2")
    b.usage = Usage(1, 1, "estimate")
    enc = tiktoken.get_encoding("o200k_base")
    p, c, counted = usage_of([a, b])
    assert counted == 1
    assert p == 11 + len(enc.encode(b.prompt)) and c == 22 + len(enc.encode(b.raw_text))
