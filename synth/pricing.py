"""Prices in USD: per-model input/output prices and fine-tune training prices.

Lookup order for a model's price: the workspace's ``prices:`` overrides (exact name, then
case-insensitive), then Pydantic's bundled ``genai-prices`` table (offline, no request), else
unknown (``None``: the caller shows "no price known", never a made-up number).  The embedded
local model costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

PER = 1_000_000  # prices are per million tokens


@dataclass(frozen=True)
class Price:
    input: float  # USD per million prompt tokens
    output: float  # USD per million completion tokens
    source: str  # "workspace config", "genai-prices (openai: gpt-4o-mini)", "local model"

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / PER


LOCAL = Price(0.0, 0.0, "local model (no charge)")


def _override(model: str, overrides: Mapping[str, Mapping[str, float]] | None) -> Price | None:
    if not overrides:
        return None
    entry = overrides.get(model)
    if entry is None:
        low = model.lower()
        entry = next((v for k, v in overrides.items() if str(k).lower() == low), None)
    if entry is None:
        return None
    try:
        return Price(float(entry.get("input", 0.0)), float(entry.get("output", 0.0)), "workspace config")
    except (TypeError, ValueError, AttributeError):
        return None


@lru_cache(maxsize=512)
def _table_price(model: str) -> Price | None:
    try:
        from genai_prices import Usage, calc_price
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    try:
        calc = calc_price(Usage(input_tokens=PER, output_tokens=PER), model)
    except (LookupError, ValueError):
        return None
    return Price(float(calc.input_price), float(calc.output_price),
                 f"genai-prices ({calc.provider.id}: {calc.model.id})")


def price_of(model: str, overrides: Mapping[str, Mapping[str, float]] | None = None,
             *, local: bool = False) -> Price | None:
    """The price of ``model``, or None where none is known.  ``local``: the embedded model."""
    if local:
        return LOCAL
    if not model:
        return None
    return _override(model, overrides) or _table_price(model)


def cost_of(model: str, prompt_tokens: int, completion_tokens: int,
            overrides: Mapping[str, Mapping[str, float]] | None = None, *,
            local: bool = False) -> float | None:
    """USD for this usage, or None where no price is known.  Pass ``ws.config.prices``."""
    p = price_of(model, overrides, local=local)
    return None if p is None else p.cost(prompt_tokens, completion_tokens)


def model_context_window(model: str) -> int | None:
    """The model's context window according to genai-prices, where it says."""
    try:
        from genai_prices.data_snapshot import get_snapshot
        _, info = get_snapshot().find_provider_model(model, None, None, None)
        return info.context_window
    except Exception:  # noqa: BLE001 - an unknown model is simply unknown
        return None


def format_usd(x: float | None) -> str:
    if x is None:
        return "no price known"
    if x == 0:
        return "$0.00"
    if x < 0.01:
        return f"${x:.4f}"
    return f"${x:,.2f}"
