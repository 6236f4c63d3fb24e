"""Repeat-purchase ("buy till you die") models: likelihoods, maximum-likelihood
fits and conditional expectations. Pure numerics on arrays; no database here.

Time is in whatever unit the caller uses (kehu passes days). Per customer:
``x`` repeat purchases (purchase days after the first), ``t_x`` the time of the
last one after the first, ``age`` the time from the first to the end of the
observation (so ``0 <= t_x <= age``).

* **Pareto/NBD** (Schmittlein, Morrison & Colombo 1987): while alive a customer
  buys at a Poisson rate λ ~ Gamma(r, α) and stays alive for an exponential time
  with rate μ ~ Gamma(s, β). Likelihood in the form of Fader, Hardie & Lee (2005),
  "A Note on Implementing the Pareto/NBD Model in MATLAB"; conditional
  expectation as in Schmittlein et al. (1987), eq. 22.
* **BG/NBD** (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"):
  the same purchasing, but after each purchase the customer drops out with
  probability p ~ Beta(a, b).
* **Gamma-Gamma** spend (Colombo & Jiang 1999; Fader, Hardie & Lee 2005, "RFM and
  CLV: Using Iso-Value Curves"): a customer's purchases are Gamma(p, ν) with
  ν ~ Gamma(q, γ); the expected spend per purchase given ``n`` purchases
  averaging ``m`` is (γ + n·m)·p / (p·n + q − 1).

numpy and scipy are the ``analytics`` extra: this module imports them when called,
and ``numerics_missing()`` says whether they are there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# A month of the CLV horizon (cash flows are discounted month by month).
MONTH_DAYS = 365.25 / 12
YEAR_DAYS = 365.25

NEEDS_EXTRA = "numpy and scipy are not installed (pip install 'kehu[analytics]')"

PARAMETERS = {
    "pareto_nbd": ("r", "alpha", "s", "beta"),
    "bg_nbd": ("r", "alpha", "a", "b"),
    "gamma_gamma": ("p", "q", "gamma"),
}


def numerics_missing() -> str | None:
    """None when numpy and scipy are installed; else why the models cannot run.
    They are looked up, not imported: importing scipy costs ~0.7 s, which every
    recompute that fits nothing would pay once per process (the one after a
    ``kehu import customers``, which has no buyers yet, among them)."""
    import importlib.util
    import sys

    if "scipy.optimize" in sys.modules and "scipy.special" in sys.modules:
        return None
    try:
        if importlib.util.find_spec("numpy") is None or importlib.util.find_spec("scipy") is None:
            return NEEDS_EXTRA
    except (ImportError, ValueError):  # a broken package
        return NEEDS_EXTRA
    return None


@dataclass
class Fit:
    """A maximum-likelihood fit: the parameters, the log-likelihood at them, over
    how many customers, and whether the optimiser reported convergence."""

    model: str
    params: dict[str, float]
    log_likelihood: float
    customers: int
    iterations: int
    converged: bool
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def usable(self) -> bool:
        import math

        return self.converged and all(math.isfinite(v) and v > 0 for v in self.params.values())


def _arrays(*columns):
    import numpy as np

    return [np.asarray(c, dtype=float) for c in columns]


def _fit(model: str, nll_per_row, start, columns, weights) -> Fit:
    """Minimise the weighted mean negative log-likelihood over log-parameters
    (positivity for free), L-BFGS-B with numerical gradients."""
    import numpy as np
    from scipy.optimize import minimize

    names = PARAMETERS[model]
    w = np.ones(len(columns[0])) if weights is None else np.asarray(weights, dtype=float)
    total = float(w.sum())

    def objective(log_params):
        with np.errstate(all="ignore"):
            value = float((w * nll_per_row(np.exp(log_params), *columns)).sum() / total)
        return value if np.isfinite(value) else 1e12

    bounds = [(-15.0, 15.0)] * len(names)
    result = minimize(objective, np.log(np.asarray(start, dtype=float)), method="L-BFGS-B", bounds=bounds)
    params = {name: float(v) for name, v in zip(names, np.exp(result.x))}
    return Fit(
        model=model,
        params=params,
        log_likelihood=-float(result.fun) * total,
        customers=int(round(total)),
        iterations=int(result.nit),
        converged=bool(result.success) and float(result.fun) < 1e12,
        message=str(result.message),
    )


# --------------------------------------------------------------------------- Pareto/NBD


class _Pairs:
    """The distinct ``(x, t)`` pairs of a fit's rows, found once per fit: the
    hypergeometric terms depend on x and t_x, or on x and age, only, and 2F1 costs
    ~7-15 µs a row where the fit wanders to large r. Customers share their
    pairs (every one-time buyer has x = t_x = 0), so evaluating on the pairs and
    spreading the values back gives the rows' values from a half or a third of
    the work."""

    def __init__(self, x, t):
        import numpy as np

        pairs, back = np.unique(np.column_stack([x, t]), axis=0, return_inverse=True)
        self.x, self.t, self.back = pairs[:, 0], pairs[:, 1], back.reshape(-1)


def _pareto_nbd_terms(params, x, t_x, age, pairs: tuple[_Pairs, _Pairs] | None = None):
    """The log-likelihood's common factor and its two terms (alive at the end of
    the observation / died between the last purchase and the end), in logs.
    ``pairs``: the rows' distinct ``(x, t_x)`` and ``(x, age)`` (a fit's)."""
    import numpy as np
    from scipy.special import gammaln

    r, alpha, s, beta = params
    c = r + s + x
    larger = alpha if alpha >= beta else beta
    gap = abs(alpha - beta)

    def term(xs, ts):
        """log(₂F₁(c, b; c+1; gap/(larger+t)) · (larger+t)^−c)."""
        cs = r + s + xs
        b = s + 1 if alpha >= beta else r + xs
        return _log_hyp2f1_a1(cs, b, gap / (larger + ts)) - cs * np.log(larger + ts)

    with np.errstate(all="ignore"):
        if pairs is None:
            f1, f2 = term(x, t_x), term(x, age)
        else:
            f1, f2 = (term(p.x, p.t)[p.back] for p in pairs)
        # log(A0) = log(exp(f1) − exp(f2)); f1 ≥ f2 since t_x ≤ age (equal: A0 = 0).
        died = np.log(s / c) + f1 + np.log(-np.expm1(np.minimum(f2 - f1, 0.0)))
    # What neither hypergeometric route evaluates gets the integral by quadrature.
    bad = ~np.isfinite(died) & (age > t_x)
    if bad.any():
        died = np.where(bad, -np.inf, died)
        died[bad] = _pareto_nbd_died(params, x[bad], t_x[bad], age[bad])
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + age) - s * np.log(beta + age)
    return head, alive, died


# Above this z, 2F1 goes through the 1 − z connection formula (scipy's series
# there is slow and overflows for many rows; the formula converges fast).
_NEAR_ONE = 0.98


def _log_hyp2f1_a1(a, b, z):
    """log ₂F₁(a, b; a+1; z) for 0 ≤ z < 1 (arrays; non-finite where it cannot).

    scipy's ``hyp2f1`` below ``_NEAR_ONE``; above, Abramowitz & Stegun 15.3.6 with
    c = a+1, whose first term is closed (₂F₁(a, b; b; 1−z) = z^−a):
    ₂F₁ = Γ(a+1)Γ(1−b)/Γ(a+1−b)·z^−a + (1−z)^(1−b)·a/(b−1)·₂F₁(1, a+1−b; 2−b; 1−z),
    the last series in powers of 1 − z ≤ 0.02, summed in logs with signs. b an
    integer is a removable singularity of the formula: b is moved off it by 2e-7."""
    import numpy as np
    from scipy.special import gammaln, gammasgn, hyp2f1

    a, z = np.asarray(a, dtype=float), np.asarray(z, dtype=float)
    b = np.broadcast_to(np.asarray(b, dtype=float), np.broadcast(a, z).shape)
    a, z = np.broadcast_to(a, b.shape), np.broadcast_to(z, b.shape)
    out = np.log(hyp2f1(a, b, a + 1, np.where(z < _NEAR_ONE, z, 0.0)))
    near = z >= _NEAR_ONE
    if near.any():
        a1, z1 = a[near], z[near]
        b1 = b[near]
        b1 = np.where(np.abs(b1 - np.round(b1)) < 1e-7, b1 + 2e-7, b1)
        w = 1.0 - z1
        first = gammaln(a1 + 1) + gammaln(1 - b1) - gammaln(a1 + 1 - b1) - a1 * np.log(z1)
        first_sign = gammasgn(1 - b1) * gammasgn(a1 + 1 - b1)
        term, series = np.ones_like(a1), np.ones_like(a1)
        for n in range(200):
            term = term * (a1 + 1 - b1 + n) / (2 - b1 + n) * w
            series = series + term
            if np.all(np.abs(term) <= 1e-17 * np.abs(series)):
                break
        second = (1 - b1) * np.log(w) + np.log(a1) - np.log(np.abs(b1 - 1)) + np.log(np.abs(series))
        second_sign = np.sign(b1 - 1) * np.sign(series)
        top = np.maximum(first, second)
        total = first_sign * np.exp(first - top) + second_sign * np.exp(second - top)
        out = np.array(out)
        out[near] = top + np.log(total)  # NaN where the sum is not positive: quadrature
    return out


_NODES = 32


def _pareto_nbd_died(params, x, t_x, age):
    """log(s ∫_{t_x}^{age} (α+τ)^−(r+x) (β+τ)^−(s+1) dτ), the second term, by
    quadrature: with y = (α+t_x)/(α+τ) and y = e^(−u/c) it is
    (s/c)(α+t_x)^−c ∫_0^U e^−u (1 + k e^(−u/c))^−(s+1) du, c = r+s+x,
    k = (β−α)/(α+t_x), U = c·ln((α+age)/(α+t_x)): a smooth, bounded integrand.
    Gauss-Legendre on [0, U] for U ≤ 2, else Gauss-Laguerre on [0, ∞) less the
    tail beyond U."""
    import numpy as np
    from numpy.polynomial.laguerre import laggauss
    from numpy.polynomial.legendre import leggauss

    r, alpha, s, beta = params
    c = r + s + x
    k = (beta - alpha) / (alpha + t_x)
    span = c * np.log((alpha + age) / (alpha + t_x))

    def h(u):
        return (1 + k * np.exp(-u / c)) ** (-(s + 1))

    nodes, weights = leggauss(_NODES)
    short = np.minimum(span, 2.0)
    u = short * (1 + nodes[:, None]) / 2
    near = short / 2 * (weights[:, None] * np.exp(-u) * h(u)).sum(axis=0)
    nodes, weights = laggauss(_NODES)
    whole = (weights[:, None] * h(nodes[:, None] + 0 * span)).sum(axis=0)
    tail = (weights[:, None] * h(nodes[:, None] + span)).sum(axis=0)
    far = whole - np.exp(-span) * tail
    integral = np.where(span <= 2.0, near, far)
    with np.errstate(all="ignore"):
        return np.log(s / c) - c * np.log(alpha + t_x) + np.log(integral)


def pareto_nbd_log_likelihood(params, x, t_x, age, pairs: tuple[_Pairs, _Pairs] | None = None) -> np.ndarray:
    """Per customer: log L(r, α, s, β | x, t_x, age)."""
    import numpy as np

    x, t_x, age = _arrays(x, t_x, age)
    head, alive, died = _pareto_nbd_terms(params, x, t_x, age, pairs)
    return head + np.logaddexp(alive, died)


def fit_pareto_nbd(x, t_x, age, weights=None, start=None) -> Fit:
    import numpy as np

    columns = _arrays(x, t_x, age)
    scale = float(np.average(columns[2], weights=weights)) or 1.0
    start = start or (1.0, scale, 1.0, scale)
    pairs = (_Pairs(columns[0], columns[1]), _Pairs(columns[0], columns[2])) if columns[0].ndim == 1 else None
    return _fit("pareto_nbd", lambda p, *c: -pareto_nbd_log_likelihood(p, *c, pairs), start, columns, weights)


def pareto_nbd_alive(params, x, t_x, age) -> np.ndarray:
    """P(alive at the end of the observation | x, t_x, age)."""
    import numpy as np

    x, t_x, age = _arrays(x, t_x, age)
    with np.errstate(all="ignore"):
        _, alive, died = _pareto_nbd_terms(params, x, t_x, age)
        p = 1.0 / (1.0 + np.exp(died - alive))
    return np.where(np.isfinite(p), p, 0.0)


def pareto_nbd_expected(params, x, t_x, age, times) -> tuple[np.ndarray, np.ndarray]:
    """(P(alive), expected purchases in (age, age + t] for each t of ``times``:
    shape (len(times), customers))."""
    import numpy as np

    r, alpha, s, beta = params
    x, t_x, age = _arrays(x, t_x, age)
    p_alive = pareto_nbd_alive(params, x, t_x, age)
    t = np.asarray(times, dtype=float)[:, None]
    base = beta + age
    if abs(s - 1.0) < 1e-9:
        shape = np.log((base + t) / base)
    else:
        shape = (1.0 - (base / (base + t)) ** (s - 1.0)) / (s - 1.0)
    rate = (r + x) * base / (alpha + age)
    return p_alive, p_alive * rate * shape


# --------------------------------------------------------------------------- BG/NBD


def bg_nbd_log_likelihood(params, x, t_x, age) -> np.ndarray:
    """Per customer: log L(r, α, a, b | x, t_x, age)."""
    import numpy as np
    from scipy.special import gammaln

    r, alpha, a, b = params
    x, t_x, age = _arrays(x, t_x, age)
    head = (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + gammaln(a + b)
        + gammaln(b + x)
        - gammaln(b)
        - gammaln(a + b + x)
    )
    stays = -(r + x) * np.log(alpha + age)
    with np.errstate(all="ignore"):
        drops = np.where(
            x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x), -np.inf
        )
    return head + np.logaddexp(stays, drops)


def fit_bg_nbd(x, t_x, age, weights=None, start=None) -> Fit:
    import numpy as np

    columns = _arrays(x, t_x, age)
    scale = float(np.average(columns[2], weights=weights)) or 1.0
    start = start or (1.0, scale, 1.0, 1.0)
    return _fit("bg_nbd", lambda p, *c: -bg_nbd_log_likelihood(p, *c), start, columns, weights)


def bg_nbd_expected(params, x, t_x, age, times) -> tuple[np.ndarray, np.ndarray]:
    """(P(alive), expected purchases in (age, age + t] for each t of ``times``)."""
    import numpy as np
    from scipy.special import hyp2f1

    r, alpha, a, b = params
    if abs(a - 1.0) < 1e-6:  # the closed form divides by a − 1
        a = 1.0 + 1e-6
    x, t_x, age = _arrays(x, t_x, age)
    with np.errstate(all="ignore"):
        odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-300) * ((alpha + age) / (alpha + t_x)) ** (r + x), 0.0)
        p_alive = 1.0 / (1.0 + odds)
        t = np.asarray(times, dtype=float)[:, None]
        z = t / (alpha + age + t)
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
        inner = 1.0 - ((alpha + age) / (alpha + age + t)) ** (r + x) * hyp
        expected = (a + b + x - 1) / (a - 1) * inner * p_alive
    return p_alive, np.where(np.isfinite(expected), expected, 0.0)


# --------------------------------------------------------------------------- Gamma-Gamma


def gamma_gamma_log_likelihood(params, n, mean) -> np.ndarray:
    """Per customer: log density of the average ``mean`` of ``n`` purchases."""
    import numpy as np
    from scipy.special import gammaln

    p, q, gamma = params
    n, mean = _arrays(n, mean)
    pn = p * n
    return (
        gammaln(pn + q)
        - gammaln(pn)
        - gammaln(q)
        + q * np.log(gamma)
        + (pn - 1) * np.log(mean)
        + pn * np.log(n)
        - (pn + q) * np.log(gamma + n * mean)
    )


def fit_gamma_gamma(n, mean, weights=None, start=None) -> Fit:
    import numpy as np

    columns = _arrays(n, mean)
    start = start or (1.0, 2.0, float(np.average(columns[1], weights=weights)) or 1.0)
    return _fit("gamma_gamma", lambda p, *c: -gamma_gamma_log_likelihood(p, *c), start, columns, weights)


def gamma_gamma_spend(params, n, total) -> np.ndarray:
    """Expected spend per future purchase of a customer with ``n`` purchases
    totalling ``total``: (γ + total)·p / (p·n + q − 1)."""

    p, q, gamma = params
    n, total = _arrays(n, total)
    return (gamma + total) * p / (p * n + q - 1)


# --------------------------------------------------------------------------- horizon


def horizon_times(horizon: float, month: float = MONTH_DAYS) -> list[float]:
    """The ends of the horizon's months: month, 2·month, …, horizon (the last one
    possibly shorter)."""
    times, t = [], 0.0
    while t < horizon - 1e-9:
        t = min(t + month, float(horizon))
        times.append(t)
    return times


def discount_factors(times: list[float], annual_rate: float, year: float = YEAR_DAYS) -> list[float]:
    """(1 + d)^(−t / year) for each time."""
    return [(1.0 + annual_rate) ** (-t / year) for t in times]


def predict(model: str, params, x, t_x, age, horizon: float, annual_rate: float):
    """(P(alive), expected purchases over the horizon, the same discounted month by
    month at ``annual_rate``) per customer."""
    import numpy as np

    times = horizon_times(horizon)
    expected = {"pareto_nbd": pareto_nbd_expected, "bg_nbd": bg_nbd_expected}[model]
    p_alive, cumulative = expected(tuple(params), x, t_x, age, times)
    steps = np.diff(np.vstack([np.zeros((1, cumulative.shape[1])), cumulative]), axis=0)
    factors = np.asarray(discount_factors(times, annual_rate))[:, None]
    return p_alive, cumulative[-1], (steps * factors).sum(axis=0)


def run_rate_annuity(horizon: float, annual_rate: float) -> float:
    """Σ over the horizon's months of (month length × discount factor): a constant
    purchase rate per day times this is the discounted number of purchases."""
    times = horizon_times(horizon)
    lengths = [b - a for a, b in zip([0.0, *times[:-1]], times)]
    return sum(length * f for length, f in zip(lengths, discount_factors(times, annual_rate)))
