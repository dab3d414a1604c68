"""Prices, costs, estimates and fine-tune epochs."""

from __future__ import annotations

import pytest

from synth.pricing import cost_of, format_usd, price_of


def test_table_price_from_genai_prices():
    p = price_of("gpt-4o-mini")
    assert p is not None and p.source.startswith("genai-prices")
    assert cost_of("gpt-4o-mini", 1_000_000, 0) == pytest.approx(p.input)
    assert cost_of("gpt-4o-mini", 1000, 2000) == pytest.approx((1000 * p.input + 2000 * p.output) / 1e6)


def test_workspace_override_wins_and_is_case_insensitive():
    over = {"My-Model": {"input": 1.0, "output": 4.0}, "gpt-4o-mini": {"input": 10, "output": 20}}
    assert cost_of("my-model", 1_000_000, 500_000, over) == pytest.approx(3.0)
    assert cost_of("gpt-4o-mini", 1_000_000, 1_000_000, over) == pytest.approx(30.0)
    assert price_of("my-model", over).source == "workspace config"


def test_unknown_model_has_no_price_and_local_is_free():
    assert cost_of("llama3.2", 1000, 1000) is None
    assert cost_of("", 1000, 1000) is None
    assert cost_of("gemma-3-270m", 10_000, 10_000, local=True) == 0.0
    assert format_usd(None) == "no price known"
    assert format_usd(0.001234) == "$0.0012" and format_usd(1234.5) == "$1,234.50"


# -- fine-tune -------------------------------------------------------------------------------

from synth.generate.estimate import estimate_run  # noqa: E402
from synth.pricing import default_epochs, finetune_estimate, finetune_price  # noqa: E402


@pytest.mark.parametrize("n,epochs", [(1, 25), (3, 25), (5, 20), (10, 10), (33, 3), (34, 3), (30, 3),
                                      (100, 3), (8333, 3), (8334, 2), (12_500, 2), (12_501, 1),
                                      (100_000, 1), (0, 0)])
def test_default_epochs_like_the_trainer(n, epochs):
    assert default_epochs(n) == epochs


def test_finetune_price_matching():
    prices = {"gpt-4o-mini-2024-07-18": 3.0, "gpt-4o-2024-08-06": 25.0}
    assert finetune_price("gpt-4o-mini", prices) == ("gpt-4o-mini-2024-07-18", 3.0)
    assert finetune_price("gpt-4o", prices) == ("gpt-4o-2024-08-06", 25.0)
    assert finetune_price("GPT-4o-2024-08-06", prices) == ("gpt-4o-2024-08-06", 25.0)
    assert finetune_price("gpt-4.1", prices) is None


def test_finetune_estimate_caps_examples_and_prices():
    est = finetune_estimate([1000, 2000, 70_000] * 10, "gpt-4o-mini", {"gpt-4o-mini-2024-07-18": 3.0})
    assert est.limit == 65_536 and est.capped_examples == 10
    assert est.tokens_per_epoch == 10 * (1000 + 2000 + 65_536)
    assert est.epochs == 3 and est.billed_tokens == 3 * est.tokens_per_epoch
    assert est.cost == pytest.approx(est.billed_tokens * 3.0 / 1e6)
    assert any("truncates" in n for n in est.notes)
    assert finetune_estimate([10] * 5, "llama-3-8b", {}).cost is None


def test_estimate_run_counts_rendered_prompts_exactly():
    import tiktoken

    from data.factory import persona
    from synth.models import Conversation, RunSpec, Topic, TopicSource, Usage
    from synth.generate.prompts import render

    p = persona(synthesis_prompt="Write a chat between {user_label} and {persona_label} about {topic}.\n\n{user_label}:")
    src = TopicSource(id="t", kind="text", topics=[Topic("sleep"), Topic("money worries at home")])
    spec = RunSpec.for_persona(p, src, per_topic=3, endpoint="openai", model="gpt-4o-mini", max_tokens=500)
    enc = tiktoken.get_encoding("o200k_base")
    exact = 3 * sum(len(enc.encode(render(p, t, "completion").text)) for t in src.topics)
    est = estimate_run(spec)
    assert est.prompt_tokens == exact and est.to_write == 6 and est.completion_tokens_max == 3000
    assert est.cost_max == pytest.approx((exact * est.price.input + 3000 * est.price.output) / 1e6)
    assert est.completion_tokens_avg is None
    # once conversations exist: only the rest is estimated, with the run's own average
    from synth.models import conversation_id
    done = [Conversation(id=conversation_id(spec.run_id, src.topics[0].id, k), run_id=spec.run_id,
                         persona_id="eve", topic_id=src.topics[0].id, topic="sleep", k=k, endpoint="openai",
                         model="gpt-4o-mini", params={}, prompt="", raw_text="", turns=[],
                         usage=Usage(100, 200 + 100 * k)) for k in range(2)]
    est = estimate_run(spec, stored=done)
    assert est.already_done == 2 and est.to_write == 4
    assert est.completion_tokens_avg == 4 * 250 and est.avg_from == 2
    chat = RunSpec.for_persona(p, src, per_topic=1, endpoint="openai", model="gpt-4o-mini", style="chat")
    msgs = [render(p, t, "chat").messages for t in src.topics]
    assert estimate_run(chat).prompt_tokens == sum(
        3 + sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in ms) for ms in msgs)


def test_estimate_run_counts_what_this_start_writes_with_a_limit():
    """With a limit the estimate counts only what one start writes (it said 5 conversations and
    at most 3,000 completion tokens with limit 2), after what is already stored."""
    from data.factory import persona
    from synth.models import Conversation, RunSpec, Topic, TopicSource, Usage, conversation_id

    p = persona()
    src = TopicSource(id="t", kind="text", topics=[Topic(f"topic {i}") for i in range(5)])
    spec = RunSpec.for_persona(p, src, per_topic=1, endpoint="openai", model="gpt-4o-mini",
                               max_tokens=600, limit=2)
    est = estimate_run(spec)
    assert est.conversations == 5 and est.to_write == 2 and est.missing == 5
    assert est.completion_tokens_max == 1200
    whole = estimate_run(RunSpec.for_persona(p, src, per_topic=1, endpoint="openai",
                                             model="gpt-4o-mini", max_tokens=600))
    assert whole.to_write == 5 and whole.completion_tokens_max == 3000
    assert est.prompt_tokens < whole.prompt_tokens
    assert "2 to write: limit 2 of 5 missing" in "\n".join(est.lines())
    assert "at most 1,200 (max_tokens x 2 to write)" in "\n".join(est.lines())
    # four stored: one is missing, so limit 2 writes only that one
    done = [Conversation(id=conversation_id(spec.run_id, t.id, 0), run_id=spec.run_id,
                         persona_id="eve", topic_id=t.id, topic=t.text, k=0, endpoint="openai",
                         model="gpt-4o-mini", params={}, prompt="", raw_text="", turns=[],
                         usage=Usage(100, 300)) for t in src.topics[:4]]
    est = estimate_run(spec, stored=done)
    assert est.already_done == 4 and est.missing == 1 and est.to_write == 1
    assert est.completion_tokens_max == 600 and est.completion_tokens_avg == 300
    assert "4 already stored, 1 to write)" in "\n".join(est.lines())


def test_batch_price_is_the_workspace_rate_else_half_with_a_note():
    from synth.pricing import batch_price_of, price_of

    full = price_of("gpt-4o-mini")
    half = batch_price_of("gpt-4o-mini")
    assert full is not None and half is not None
    assert half.input == full.input / 2 and half.output == full.output / 2
    assert "50%" in half.source and "no batch rate known" in half.source
    own = batch_price_of("my-model", {"my-model": {"input": 1, "output": 2, "batch_input": 0.4,
                                                   "batch_output": 0.9}})
    assert (own.input, own.output, own.source) == (0.4, 0.9, "workspace config (batch rates)")
    assert batch_price_of("no-such-model-anywhere") is None
