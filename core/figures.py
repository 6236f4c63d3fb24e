"""Figures in reports: percentages and ratios, rounded one way everywhere.

kehu rounds half up (away from zero), as people do on paper and as spreadsheets
do: 6.25 % shown to one place is 6.3 %, not Python's round-half-to-even 6.2 %.
Arithmetic is in ``Decimal``, so the half is exact (a binary float of 6.25 × …
might not be). Percentages are floats with one decimal (GraphQL ``Float``),
ratios ``Decimal`` with four (shown as strings, e.g. ``"0.8646"``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def round_half_up(value: Decimal, places: int) -> Decimal:
    """``value`` to ``places`` decimals, halves away from zero."""
    return value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


def percent(part: int | Decimal, whole: int | Decimal, places: int = 1) -> float | None:
    """``100 × part / whole`` to one decimal (``None`` when ``whole`` is 0: no
    percentage of nothing)."""
    if not whole:
        return None
    return float(round_half_up(Decimal(100) * Decimal(part) / Decimal(whole), places))


def ratio(part: int | Decimal, whole: int | Decimal, places: int = 4) -> Decimal | None:
    """``part / whole`` to four decimals (``None`` when ``whole`` is 0)."""
    if not whole:
        return None
    return round_half_up(Decimal(part) / Decimal(whole), places)
