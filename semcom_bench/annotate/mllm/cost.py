"""Token estimates and prices: what a request will cost before it is sent, and what a made one cost.

Estimates (for ``--dry-run``) are approximations, documented as such:

* text: ``ceil(characters / 4)``, OpenAI's rule of thumb for English; no tokenizer is downloaded. Per-message
  framing tokens (a handful per message) are left out.
* images: OpenAI's documented tile formula for ``detail="high"``: fit the image in 2048x2048, then scale it down so
  that its short side is at most 768 px, then ``base + tile * (number of 512-px tiles)`` with base 85 and tile 170
  (gpt-4o-mini bills 2833 and 5667 for the same image). ``detail="low"`` is the base alone. Other providers count
  image tokens their own way; the estimate is then only an order of magnitude.

Actual costs use the ``usage`` the server reports times the price table below (USD per 1M tokens, OpenAI standard
tier, as published in 2025; check the provider's page before trusting a budget to them). A model that is not in the
table has no known price (``None``) unless prices are given explicitly, e.g. 0 for a local server.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelPrice:
    """USD per 1M input and output tokens, and the model's image-token counts per image and per 512-px tile."""

    input_per_m: float
    output_per_m: float
    image_base: int = 85
    image_tile: int = 170


PRICES: dict[str, ModelPrice] = {
    "gpt-4o": ModelPrice(2.50, 10.00),
    "gpt-4o-mini": ModelPrice(0.15, 0.60, image_base=2833, image_tile=5667),
    "gpt-4.1": ModelPrice(2.00, 8.00),
    "gpt-4-turbo": ModelPrice(10.00, 30.00),
}
"""Known models; a dated snapshot (``gpt-4o-2024-08-06``) takes its family's entry."""

_DEFAULT_IMAGE = ModelPrice(0.0, 0.0)  # the image-token counts of models not in the table


def model_price(model: str) -> ModelPrice | None:
    """The table's entry for ``model`` or its dated snapshot; ``None`` if unknown."""
    for name, price in PRICES.items():
        if re.fullmatch(re.escape(name) + r"(-\d{4}-\d{2}-\d{2})?", model):
            return price
    return None


def resolve_price(model: str, input_per_m: float | None, output_per_m: float | None) -> tuple[float, float] | None:
    """Input and output USD per 1M tokens: the explicit ones where given, else the table's; ``None`` if unknown."""
    known = model_price(model)
    price_in = input_per_m if input_per_m is not None else (known.input_per_m if known else None)
    price_out = output_per_m if output_per_m is not None else (known.output_per_m if known else None)
    if price_in is None or price_out is None:
        return None
    return price_in, price_out


def cost_usd(tokens_in: int, tokens_out: int, price: tuple[float, float] | None) -> float | None:
    """Dollars for the given token counts at ``price`` (from :func:`resolve_price`); ``None`` when unknown."""
    if price is None:
        return None
    return (tokens_in * price[0] + tokens_out * price[1]) / 1e6


def text_tokens(text: str) -> int:
    """Approximate token count of ``text``: ``ceil(len / 4)``."""
    return math.ceil(len(text) / 4)


def image_tokens(width: int, height: int, model: str, detail: str = "high") -> int:
    """Input tokens of one image by OpenAI's tile formula (``detail`` "auto" is counted as "high", an upper bound)."""
    counts = model_price(model) or _DEFAULT_IMAGE
    if detail == "low":
        return counts.image_base
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        w, h = w * 2048 / max(w, h), h * 2048 / max(w, h)
    if min(w, h) > 768:
        w, h = w * 768 / min(w, h), h * 768 / min(w, h)
    tiles = math.ceil(round(w) / 512) * math.ceil(round(h) / 512)  # round: 1536.0000001 px is 1536 px, 3 tiles
    return counts.image_base + counts.image_tile * tiles
