"""Why a customer is classified as it is: the sentence and the inputs.

The sentence names the rule that placed the customer in their value tier ("potential:
ABC B and R ≥ 2"), the scores with the figures behind them, why the lifecycle stage
is what it is, the CLV with the probability that the customer is still buying, and
the date the figures are as of. It reads in English or Simplified Chinese
(``language``): the viewer's own choice, else the request's Accept-Language, else the
``language`` setting (``explanation_language``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kehu.figures import round_half_up

from ..models import Classification, RecomputeRun
from ..settings import SegmentationSettings, TierCondition
from . import btyd

LANGUAGES = ("en", "zh-CN")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "CORE": "core",
        "POTENTIAL": "potential",
        "GENERAL": "general",
        "PROSPECT": "prospect",
        "NEW": "new",
        "ACTIVE": "active",
        "LOYAL": "loyal",
        "AT_RISK": "at risk",
        "CHURNED": "churned",
        "and": " and ",
        "or": " or ",
        "list": ", ",
        "end": ".",
        "abc": "ABC {classes}",
        "frequency_class": "buying {classes}",
        "stages": "stage {classes}",
        "no_rule": "no core or potential rule applies",
        "tier": "{tier}: {rule}",
        "archived": "{tier}: archived customer, not scored; stage churned",
        "prospect": "{tier}: no purchase yet; stage prospect",
        "outside_window": "no purchase in the {window} days up to the as-of date (last one {recency} days before it)",
        "scores": "R={r} ({recency}), F={f} ({frequency}), M={m} ({monetary}), {abc}",
        "abc_class": "ABC {abc}",
        "no_abc": "no ABC class (no revenue in the window)",
        "days": "{n} days",
        "day": "1 day",
        "purchases": "{n} purchases",
        "purchase": "1 purchase",
        "purchase_days": "{n} purchase days",
        "purchase_day": "1 purchase day",
        "stage": "stage {stage} ({why})",
        "why_churned": "no purchase for {recency} days, {limit} or more",
        "why_at_risk": "no purchase for {recency} days, {limit} or more",
        "why_new": "first purchase {tenure} days ago, under {limit}",
        "why_loyal": "{frequency} in the window, {limit} or more",
        "why_active": "last purchase {recency} days ago",
        "clv_model": "CLV {clv} over {horizon}: {purchases} more purchases expected, {alive} likely to still be buying ({model} fitted as of {fitted})",
        "clv_run_rate": "CLV {clv} over {horizon} at the customer's own purchase rate ({reason})",
        "run_rate_chosen": "run-rate model chosen in the settings",
        "fallback_NO_NUMERICS": "numpy and scipy are not installed (pip install 'kehu[analytics]')",
        "fallback_TOO_FEW_CUSTOMERS": "too few customers to fit: {customers} with purchases (at least "
        "{min_customers}), {repeat_customers} who bought again (at least {min_repeat_customers})",
        "fallback_NOT_CONVERGED": "the {model} fit did not converge",
        "no_clv": "no CLV (no purchase)",
        "horizon_years": "{n} years",
        "horizon_year": "1 year",
        "horizon_days": "{n} days",
        "as_of": "as of {date} ({zone})",
        "against": "scored against {n} customers who bought in the window",
        "pareto_nbd": "Pareto/NBD",
        "bg_nbd": "BG/NBD",
        "percent": "{n}%",
    },
    "zh-CN": {
        "CORE": "核心客户",
        "POTENTIAL": "潜力客户",
        "GENERAL": "一般客户",
        "PROSPECT": "潜在客户",
        "NEW": "新客户",
        "ACTIVE": "活跃",
        "LOYAL": "忠诚",
        "AT_RISK": "有流失风险",
        "CHURNED": "已流失",
        "and": "且",
        "or": "或",
        "list": "，",
        "end": "。",
        "abc": "ABC {classes} 类",
        "frequency_class": "购买频率 {classes}",
        "stages": "阶段为{classes}",
        "no_rule": "不满足核心或潜力客户的任何规则",
        "tier": "{tier}：{rule}",
        "archived": "{tier}：客户已归档，不参与评分；阶段：已流失",
        "prospect": "{tier}：尚未购买；阶段：潜在客户",
        "outside_window": "截至统计日前 {window} 天内无购买（最近一次在 {recency} 天前）",
        "scores": "R={r}（{recency}），F={f}（{frequency}），M={m}（{monetary}），{abc}",
        "abc_class": "ABC {abc} 类",
        "no_abc": "无 ABC 分类（窗口期内无消费）",
        "days": "{n} 天",
        "day": "1 天",
        "purchases": "{n} 次购买",
        "purchase": "1 次购买",
        "purchase_days": "{n} 个购买日",
        "purchase_day": "1 个购买日",
        "stage": "阶段：{stage}（{why}）",
        "why_churned": "已 {recency} 天未购买，不少于 {limit} 天",
        "why_at_risk": "已 {recency} 天未购买，不少于 {limit} 天",
        "why_new": "首次购买在 {tenure} 天前，不足 {limit} 天",
        "why_loyal": "窗口期内 {frequency}，不少于 {limit}",
        "why_active": "最近一次购买在 {recency} 天前",
        "clv_model": "未来{horizon}预测 CLV {clv}：预计再购买 {purchases} 次，仍在购买的概率 {alive}（{model} 模型，截至 {fitted} 拟合）",
        "clv_run_rate": "未来{horizon}预测 CLV {clv}，按客户自身的购买频率估算（{reason}）",
        "run_rate_chosen": "设置中选择了按购买频率估算",
        "fallback_NO_NUMERICS": "未安装 numpy 和 scipy（pip install 'kehu[analytics]'）",
        "fallback_TOO_FEW_CUSTOMERS": "客户太少，无法拟合模型：有购买的客户 {customers} 位（至少需 {min_customers} 位），"
        "复购客户 {repeat_customers} 位（至少需 {min_repeat_customers} 位）",
        "fallback_NOT_CONVERGED": "{model} 模型拟合未收敛",
        "no_clv": "无预测 CLV（尚未购买）",
        "horizon_years": " {n} 年",
        "horizon_year": " 1 年",
        "horizon_days": " {n} 天",
        "as_of": "数据截至 {date}（{zone}）",
        "against": "与窗口期内有购买的 {n} 位客户比较评分",
        "pareto_nbd": "Pareto/NBD",
        "bg_nbd": "BG/NBD",
        "percent": "{n}%",
    },
}


def money(cents: int | None, symbol: str) -> str:
    amount = Decimal(int(cents or 0)) / 100
    text = f"{amount:,.2f}"
    return symbol + (text[:-3] if text.endswith(".00") else text)


def currency_symbol(s: SegmentationSettings, language: str) -> str:
    """The setting; by default ¥ in Chinese and no symbol in English."""
    if s.currency_symbol is not None:
        return s.currency_symbol
    return "¥" if language == "zh-CN" else ""


def explanation_language(s: SegmentationSettings, viewer: Any = None, accept_language: str | None = None) -> str:
    """The viewer's own choice (``AccountOwner.language``), else the best match of
    an ``Accept-Language`` header, else the ``language`` setting."""
    chosen = getattr(getattr(viewer, "owner", None), "language", None)
    if chosen in LANGUAGES:
        return chosen
    best: tuple[float, str] | None = None
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        language = _supported(tag.strip())
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if language and quality > 0 and (best is None or quality > best[0]):
            best = (quality, language)
    return best[1] if best else s.language


def _supported(tag: str) -> str | None:
    parts = tag.lower().replace("_", "-").split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] == "zh" and not {"tw", "hk", "mo", "hant"} & set(parts[1:]):
        return "zh-CN"
    return None


def describe_condition(c: TierCondition, language: str = "en") -> str:
    """A tier condition in words: "ABC A or B and R ≥ 2"."""
    t = TEXTS[language]
    parts = []
    if c.abc_classes is not None:
        parts.append(t["abc"].format(classes=t["or"].join(c.abc_classes)))
    if c.frequency_classes is not None:
        parts.append(t["frequency_class"].format(classes=t["or"].join(c.frequency_classes)))
    if c.lifecycle_stages is not None:
        parts.append(t["stages"].format(classes=t["or"].join(t[x] for x in c.lifecycle_stages)))
    for name, bound, op in (("R", c.min_r, "≥"), ("R", c.max_r, "≤"), ("F", c.min_f, "≥"), ("M", c.min_m, "≥")):
        if bound is not None:
            parts.append(f"{name} {op} {bound}")
    return t["and"].join(parts)


def tier_rule(row: Classification, s: SegmentationSettings, language: str = "en") -> str | None:
    """The condition (in words) that placed the customer in their tier; None for GENERAL."""
    rules = {"CORE": s.value_tiers.core, "POTENTIAL": s.value_tiers.potential}.get(row.value_tier)
    if rules is None or row.tier_rule is None or not 0 <= row.tier_rule < len(rules):
        return None
    return describe_condition(rules[row.tier_rule], language)


def _count(t: dict[str, str], n: int | None, one: str, many: str) -> str:
    return t[one] if n == 1 else t[many].format(n=n)


def _horizon(t: dict[str, str], days: int) -> str:
    if days % 365 == 0:
        return _count(t, days // 365, "horizon_year", "horizon_years")
    return t["horizon_days"].format(n=days)


def _stage_reason(row: Classification, s: SegmentationSettings, t: dict[str, str], frequency: str) -> str:
    lc = s.lifecycle
    stage = row.lifecycle_stage
    if stage == "CHURNED":
        return t["why_churned"].format(recency=row.recency_days, limit=lc.churned_days)
    if stage == "AT_RISK":
        return t["why_at_risk"].format(recency=row.recency_days, limit=lc.at_risk_days)
    if stage == "NEW":
        return t["why_new"].format(tenure=row.tenure_days, limit=lc.new_days)
    if stage == "LOYAL":
        limit = _count(t, lc.loyal_min_purchases, *_frequency_words(s))
        return t["why_loyal"].format(frequency=frequency, limit=limit)
    return t["why_active"].format(recency=row.recency_days)


def _frequency_words(s: SegmentationSettings) -> tuple[str, str]:
    return ("purchase_day", "purchase_days") if s.frequency_unit == "days" else ("purchase", "purchases")


def _clv(row: Classification, run: RecomputeRun | None, s: SegmentationSettings, t, language, symbol) -> str:
    if row.purchase_days == 0 and row.lifetime_purchases == 0:
        return t["no_clv"]
    model = (run.clv_model if run is not None else None) or {}
    horizon = _horizon(t, int(model.get("horizon_days") or s.clv.horizon_days))
    clv = money(row.clv_predicted_cents, symbol)
    if row.p_alive is not None and model.get("model") in t:
        return t["clv_model"].format(
            clv=clv,
            horizon=horizon,
            purchases=f"{row.expected_purchases or 0:.1f}",
            alive=t["percent"].format(n=round_half_up(Decimal(str(row.p_alive)) * 100, 0)),
            model=t[model["model"]],
            fitted=model.get("as_of") or "",
        )
    return t["clv_run_rate"].format(clv=clv, horizon=horizon, reason=_fallback(model, t))


def _fallback(model: dict[str, Any], t: dict[str, str]) -> str:
    """Why the run-rate model was used, in the explanation's language."""
    reason = model.get("fallback_reason")
    if model.get("requested") == "run_rate":
        return t["run_rate_chosen"]
    if reason is None and (model.get("fallback") == btyd.NEEDS_EXTRA or (not model and btyd.numerics_missing())):
        reason = {"code": "NO_NUMERICS"}
    if reason is None:  # a run recorded before reasons had codes: its sentence as it is
        return model.get("fallback") or t["run_rate_chosen"]
    figures = {k: v for k, v in reason.items() if k != "code"}
    if "model" in figures:
        figures["model"] = t.get(figures["model"], figures["model"])
    return t["fallback_" + reason["code"]].format(**figures)


def explain(row: Classification, run: RecomputeRun | None, s: SegmentationSettings, language: str | None = None) -> str:
    """E.g. "potential: ABC A or B and R ≥ 2; R=2 (130 days), F=2 (2 purchases),
    M=3 (300), ABC B; stage new (first purchase 85 days ago, under 90); CLV 182.40
    over 3 years: …; as of 2026-01-01 (Asia/Shanghai), scored against 10 customers …"."""
    language = language if language in LANGUAGES else s.language
    t = TEXTS[language]
    symbol = currency_symbol(s, language)
    tier = t[row.value_tier]
    if row.archived:
        return t["archived"].format(tier=tier) + t["end"]
    if row.lifetime_purchases == 0:
        parts = [t["prospect"].format(tier=tier)]
    else:
        parts = [t["tier"].format(tier=tier, rule=tier_rule(row, s, language) or t["no_rule"])]
        frequency = _count(t, row.frequency, *_frequency_words(s))
        if row.r is None:
            parts.append(t["outside_window"].format(window=s.window_days, recency=row.recency_days))
        else:
            abc = t["abc_class"].format(abc=row.abc_class) if row.abc_class else t["no_abc"]
            parts.append(
                t["scores"].format(
                    r=row.r,
                    recency=_count(t, row.recency_days, "day", "days"),
                    f=row.f,
                    frequency=frequency,
                    m=row.m,
                    monetary=money(row.monetary_cents, symbol),
                    abc=abc,
                )
            )
        parts.append(t["stage"].format(stage=t[row.lifecycle_stage], why=_stage_reason(row, s, t, frequency)))
        parts.append(_clv(row, run, s, t, language, symbol))
    if row.as_of is not None:
        zone = run.timezone if run is not None else "UTC"
        parts.append(t["as_of"].format(date=row.as_of.isoformat(), zone=zone))
    if run is not None and row.r is not None:
        parts.append(t["against"].format(n=run.population))
    separator = "；" if language == "zh-CN" else "; "
    return separator.join(parts) + t["end"]


def inputs(row: Classification, run: RecomputeRun | None, s: SegmentationSettings) -> dict[str, Any]:
    """The inputs, the thresholds and the CLV model in force, for ``Segmentation.inputs``."""
    t = run.thresholds if run else {}
    model = (run.clv_model if run else None) or {}
    return {
        "asOf": row.as_of.isoformat() if row.as_of else None,
        "timezone": run.timezone if run else None,
        "windowDays": s.window_days,
        "recencyDays": row.recency_days,
        "tenureDays": row.tenure_days,
        "frequency": row.frequency,
        "frequencyUnit": s.frequency_unit,
        "monetary": str(Decimal(row.monetary_cents) / 100),
        "lifetimePurchases": row.lifetime_purchases,
        "purchaseDays": row.purchase_days,
        "lifetimeRevenue": str(Decimal(row.lifetime_revenue_cents) / 100),
        "scoreBorders": {
            "scoring": t.get("scoring", "rank"),
            "recencyDaysAtMost": t.get("r", {}),
            "frequencyAtLeast": t.get("f", {}),
            "monetaryAtLeast": {k: str(Decimal(v) / 100) for k, v in t.get("m", {}).items()},
            "abcAMin": None if t.get("a_min") is None else str(Decimal(t["a_min"]) / 100),
            "abcBMin": None if t.get("b_min") is None else str(Decimal(t["b_min"]) / 100),
            "population": t.get("population"),
        },
        "frequencyHighMin": s.frequency.high_min,
        "lifecycle": s.lifecycle.model_dump(),
        "tierRule": tier_rule(row, s),
        "clv": {
            "model": model.get("model"),
            "fallback": model.get("fallback"),
            "params": model.get("params"),
            "spend": model.get("spend"),
            "fittedAsOf": model.get("as_of"),
            "horizonDays": model.get("horizon_days", s.clv.horizon_days),
            "margin": model.get("margin", str(s.clv.margin)),
            "discountRate": model.get("discount_rate", str(s.clv.discount_rate)),
            "probabilityAlive": row.p_alive,
            "expectedPurchases": row.expected_purchases,
            "expectedRevenue": str(Decimal(row.expected_revenue_cents) / 100),
        },
    }
