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
