"""Prices in USD: per-model input/output prices and fine-tune training prices.

Lookup order for a model's price: the workspace's ``prices:`` overrides (exact name, then
case-insensitive), then Pydantic's bundled ``genai-prices`` table (offline, no request), else
unknown (``None``: the caller shows "no price known", never a made-up number).  The embedded
local model costs nothing.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Callable, Mapping, Sequence

from synth.wording import plural

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


def cost_fn(overrides: Mapping[str, Mapping[str, float]] | None = None
            ) -> Callable[[str, int, int], float | None]:
    """``cost_of`` with the workspace's ``prices:`` bound: what the engine, the judge and chat
    take as their price function (model, prompt tokens, completion tokens) -> USD or None."""
    return lambda model, p, c: cost_of(model, p, c, overrides)


BATCH_DISCOUNT = 0.5  # OpenAI's Batch API (and most compatible ones): half the usual rates


def batch_price_of(model: str, overrides: Mapping[str, Mapping[str, float]] | None = None
                   ) -> Price | None:
    """The price of ``model`` in a batch job: the workspace's ``batch_input``/``batch_output``
    rates where given, else 50% of the usual rates, with a note saying so in ``source``."""
    entry = None
    if overrides:
        entry = overrides.get(model) or next(
            (v for k, v in overrides.items() if str(k).lower() == (model or "").lower()), None)
    if isinstance(entry, Mapping) and "batch_input" in entry and "batch_output" in entry:
        try:
            return Price(float(entry["batch_input"]), float(entry["batch_output"]),
                         "workspace config (batch rates)")
        except (TypeError, ValueError):
            pass
    p = price_of(model, overrides)
    if p is None:
        return None
    return Price(p.input * BATCH_DISCOUNT, p.output * BATCH_DISCOUNT,
                 f"50% of {p.source}: no batch rate known, the usual Batch API discount assumed")


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


# -- fine-tuning ---------------------------------------------------------------------------------

TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def default_epochs(n_examples: int) -> int:
    """The epochs OpenAI's trainer picks by default: 3, raised so that examples x epochs >= 100
    (at most 25), lowered so that it stays <= 25,000 (at least 1)."""
    if n_examples <= 0:
        return 0
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


def finetune_price(model: str, prices: Mapping[str, float] | None) -> tuple[str, float] | None:
    """(config key, USD per million training tokens) for ``model`` from ``finetune_prices``.

    ``gpt-4o-mini`` finds ``gpt-4o-mini-2024-07-18``, but ``gpt-4o`` never finds a mini."""
    if not prices or not model:
        return None
    m = model.strip().lower()
    items = [(str(k), v) for k, v in prices.items()]
    for k, v in items:
        if k.lower() == m:
            return k, float(v)
    for k, v in items:
        kl = k.lower()
        if re.fullmatch(re.escape(m) + r"-\d{4}-\d{2}-\d{2}", kl) or re.fullmatch(re.escape(kl) + r"-\d{4}-\d{2}-\d{2}", m):
            return k, float(v)
    return None


@dataclass
class FineTuneEstimate:
    model: str
    examples: int
    tokens_per_epoch: int  # billed: each example capped at the model's limit
    epochs: int
    billed_tokens: int  # tokens_per_epoch x epochs
    limit: int  # max tokens per example
    capped_examples: int  # examples over the limit (the trainer truncates them)
    price_per_m: float | None
    price_key: str | None
    cost: float | None
    notes: list[str]

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        price = (f"{format_usd(self.cost)} at ${self.price_per_m:g}/M training tokens "
                 f"({self.price_key})" if self.cost is not None else
                 f"no training price for {self.model or 'this model'} in chatsynth.yaml finetune_prices")
        return [
            f"fine-tune model: {self.model or '(none given)'} (max {self.limit:,} tokens per example)",
            f"billed training tokens: {self.tokens_per_epoch:,} per epoch x "
            f"{plural(self.epochs, 'epoch')} (trainer default for "
            f"{plural(self.examples, 'example')}) = {self.billed_tokens:,}",
            f"training cost: {price}",
            *[f"note: {n}" for n in self.notes],
        ]


def finetune_estimate(example_tokens: Sequence[int], model: str,
                      finetune_prices: Mapping[str, float] | None, *, epochs: int | None = None,
                      limit: int | None = None) -> FineTuneEstimate:
    """Billed tokens, default epochs and cost of fine-tuning ``model`` on these examples."""
    from synth.tokens import training_limit

    notes: list[str] = []
    if limit is None:
        limit, note = training_limit(model)
        if note:
            notes.append(note)
    per_epoch = sum(min(limit, n) for n in example_tokens)
    capped = sum(1 for n in example_tokens if n > limit)
    if capped:
        notes.append(f"{capped} example(s) over {limit:,} tokens: the trainer truncates them")
    n_epochs = epochs if epochs is not None else default_epochs(len(example_tokens))
    hit = finetune_price(model, finetune_prices)
    billed = per_epoch * n_epochs
    return FineTuneEstimate(
        model=model, examples=len(example_tokens), tokens_per_epoch=per_epoch, epochs=n_epochs,
        billed_tokens=billed, limit=limit, capped_examples=capped,
        price_per_m=hit[1] if hit else None, price_key=hit[0] if hit else None,
        cost=billed * hit[1] / PER if hit else None, notes=notes)
