"""Human-facing output of the experiment statistics: verdict texts, markdown, Telegram HTML and plots.

Texts come in Russian and English (:mod:`feedpulse.i18n`; default ``FEEDPULSE_LANGUAGE``, else
Russian). Telegram HTML uses only the tags ``b``, ``i``, ``code`` and ``pre`` and escapes ``& < >``.
Plots are plotly figures; turning them into PNG bytes needs kaleido + Chromium, so
:func:`render_pngs` takes an injectable ``render`` callable (tests pass a fake one; the default
renders through :class:`feedpulse.charts.render.ChartRenderer`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from feedpulse.charts.style import PALETTE, apply_style
from feedpulse.experiments.aa import AAResult
from feedpulse.experiments.ab import CTR_TESTS, ABResult
from feedpulse.experiments.resplit import pvalue_grid
from feedpulse.i18n import DEFAULT_LANG, Catalog, check_lang
from feedpulse.telegram.messages import escape

Render = Callable[[go.Figure], bytes]
_TEST_LABELS: dict[str, dict[str, str]] = {
    "welch_t": {"en": "Welch t-test, per-user CTR", "ru": "t-тест Уэлча, CTR пользователей"},
    "mannwhitney": {"en": "Mann–Whitney U, per-user CTR", "ru": "Манна–Уитни, CTR пользователей"},
    "smoothed_ctr_t": {"en": "t-test, smoothed CTR", "ru": "t-тест, сглаженный CTR"},
    "bucket_t": {"en": "t-test, bucket CTR", "ru": "t-тест, бакетный CTR"},
    "bucket_mannwhitney": {"en": "Mann–Whitney U, bucket CTR", "ru": "Манна–Уитни, бакетный CTR"},
    "linearized_likes_t": {"en": "t-test, linearized likes", "ru": "t-тест, линеаризованные лайки"},
    "poisson_bootstrap": {"en": "Poisson bootstrap, global CTR diff", "ru": "Пуассоновский бутстреп, разница CTR"},
    "views_t": {"en": "Guardrail: views per user (t-test)", "ru": "Guardrail: просмотры на пользователя"},
}
TEST_LABELS = Catalog("experiment tests", _TEST_LABELS)

_TEXTS: dict[str, dict[str, str]] = {
    "aa_works": {
        "en": "A/A works (calibrated p = {p}): {fpr} of {sims} simulated tests had p ≤ {alpha} (95% CI {lo}–{hi}); "
        "fair random re-splits of these same users give {ref_lo}–{ref_hi}. The split behaves like a fair random "
        "split of these users.",
        "ru": "A/A пройден (калиброванное p = {p}): p ≤ {alpha} в {fpr} из {sims} симуляций (95% ДИ {lo}–{hi}); "
        "случайные переразбиения тех же пользователей дают {ref_lo}–{ref_hi}. Сплит ведёт себя как честный "
        "случайный.",
    },
    "aa_borderline": {
        "en": "A/A borderline (calibrated p = {p}): {reasons}. A fair random split looks like this in about {share} "
        "of cases: not evidence of a broken split, but check it again on another window.",
        "ru": "A/A на грани (калиброванное p = {p}): {reasons}. Честный случайный сплит выглядит так примерно в "
        "{share} случаев: это не доказательство поломки, но проверьте на другом окне.",
    },
    "aa_broken": {
        "en": "A/A is broken (calibrated p = {p}): {reasons}. Check the split system and the metric before "
        "trusting A/B tests on these groups.",
        "ru": "A/A не пройден (калиброванное p = {p}): {reasons}. Проверьте сплитование и метрику, прежде чем "
        "доверять A/B-тестам.",
    },
    "aa_fpr_high": {
        "en": "the false positive rate {fpr} (95% CI {lo}–{hi}) is above what fair re-splits give "
        "({ref_lo}–{ref_hi}; p = {p_fpr})",
        "ru": "доля ложноположительных {fpr} (95% ДИ {lo}–{hi}) выше, чем у случайных переразбиений "
        "({ref_lo}–{ref_hi}; p = {p_fpr})",
    },
    "aa_not_uniform": {
        "en": "the p-values are further from uniform (KS p = {ks}, D = {d}) than in fair re-splits (p = {p_ks})",
        "ru": "p-значения дальше от равномерного (KS p = {ks}, D = {d}), чем у случайных переразбиений (p = {p_ks})",
    },
    "aa_groups_differ": {
        "en": "mean user CTR differs: {ma} vs {mb} (difference {diff}, fair-split p = {p_diff})",
        "ru": "средний CTR пользователей различается: {ma} и {mb} (разница {diff}, p = {p_diff})",
    },
    "aa_distributions_differ": {
        "en": "the groups' per-user CTR distributions differ (KS D = {dd}, fair-split p = {p_dist})",
        "ru": "распределения CTR пользователей в группах различаются (KS D = {dd}, p = {p_dist})",
    },
    "aa_srm": {
        "en": "sample ratio mismatch: {ra} vs {rb} users (χ² p = {p_srm})",
        "ru": "нарушено соотношение групп: {ra} и {rb} пользователей (χ² p = {p_srm})",
    },
    "aa_full_groups": {
        "en": "Full groups: mean user CTR {ma} vs {mb} (difference {diff}, 95% CI {dlo} … {dhi}; fair-split "
        "p = {p_diff}); sizes {ra} vs {rb} (SRM p = {p_srm}).",
        "ru": "Полные группы: средний CTR пользователей {ma} и {mb} (разница {diff}, 95% ДИ {dlo} … {dhi}; "
        "p = {p_diff}); размеры {ra} и {rb} (SRM p = {p_srm}).",
    },
    "zero_views": {
        "en": "{n} user(s) with 0 views excluded from the CTR tests (counted for SRM and the guardrail).",
        "ru": "{n} польз. без просмотров исключены из тестов CTR (учтены в SRM и guardrail).",
    },
    "aa_zero_views": {
        "en": "{n} user(s) with 0 views have no CTR and were left out of the draws.",
        "ru": "{n} польз. без просмотров не имеют CTR и не участвовали в выборках.",
    },
    "effect": {
        "en": "Global CTR: control {c}, treatment {t} ({effect}, 95% bootstrap CI {lo} … {hi}).",
        "ru": "Общий CTR: контроль {c}, тест {t} ({effect}, 95% ДИ бутстрепа {lo} … {hi}).",
    },
    "agree": {
        "en": "Significant in the same direction: {tests} ({k} of {n} CTR tests).",
        "ru": "Значимы в том же направлении: {tests} ({k} из {n} тестов CTR).",
    },
    "disagree": {
        "en": "Significant in the opposite direction: {tests}.",
        "ru": "Значимы в обратном направлении: {tests}.",
    },
    "none_agree": {
        "en": "No CTR test is significant in the direction of the global CTR change.",
        "ru": "Ни один тест CTR не значим в направлении изменения общего CTR.",
    },
    "polarized": {
        "en": "The treatment polarises users: {low_t} of treatment users have CTR ≤ {low_cut} (vs {low_c} in "
        "control) and {high_t} have CTR > {high_cut} (vs {high_c}); both shifts are significant (one-sided "
        "KS p = {p_down} and {p_up}) and the spread of per-user CTR changes by {spread} (Levene p = {lev}). "
        "Some users like the change, others dislike it, while the global CTR moves by {effect}; "
        "recommend against rollout.",
        "ru": "Тест поляризует пользователей: у {low_t} пользователей теста CTR ≤ {low_cut} (в контроле {low_c}), "
        "а у {high_t} CTR > {high_cut} (в контроле {high_c}); оба сдвига значимы (односторонний KS "
        "p = {p_down} и {p_up}), разброс CTR изменился на {spread} (Levene p = {lev}). Одним изменение "
        "нравится, другим нет, а общий CTR сдвинулся на {effect}; раскатывать не рекомендуем.",
    },
    "distribution_differs": {
        "en": "Per-user CTR distributions differ (KS p = {ks}) without polarisation.",
        "ru": "Распределения CTR пользователей различаются (KS p = {ks}), без поляризации.",
    },
    "guardrail": {
        "en": "Guardrail, views per user: {change} (p = {p}){flag}.",
        "ru": "Guardrail, просмотры на пользователя: {change} (p = {p}){flag}.",
    },
    "guardrail_flag": {"en": ", significantly down", "ru": ", значимо упали"},
    "srm": {
        "en": "Sample ratio mismatch: {n_c} vs {n_t} users (χ² p = {p}): the split is broken, the results are "
        "not trustworthy.",
        "ru": "Нарушено соотношение групп: {n_c} против {n_t} пользователей (χ² p = {p}): сплит сломан, "
        "результатам нельзя доверять.",
    },
    "srm_ok": {
        "en": "Split OK: {n_c} vs {n_t} users (SRM p = {p}).",
        "ru": "Сплит в порядке: {n_c} и {n_t} пользователей (SRM p = {p}).",
    },
    "rec_ctr_up": {
        "en": "Recommendation: roll out (CTR is up; bootstrap and linearized likes agree).",
        "ru": "Рекомендация: раскатывать (CTR вырос; бутстреп и линеаризация согласны).",
    },
    "rec_ctr_down": {
        "en": "Recommendation: do not roll out (CTR is down).",
        "ru": "Рекомендация: не раскатывать (CTR упал).",
    },
    "rec_polarization": {
        "en": "Recommendation: do not roll out (the treatment polarises users).",
        "ru": "Рекомендация: не раскатывать (тест поляризует пользователей).",
    },
    "rec_guardrail": {
        "en": "Recommendation: inconclusive (CTR is up but views per user dropped significantly).",
        "ru": "Рекомендация: не ясно (CTR вырос, но просмотры на пользователя значимо упали).",
    },
    "rec_srm": {
        "en": "Recommendation: inconclusive (fix the sample ratio mismatch and rerun).",
        "ru": "Рекомендация: не ясно (исправьте сплит и перезапустите).",
    },
    "rec_mixed": {
        "en": "Recommendation: inconclusive (the tests disagree; the global CTR change is not confirmed "
        "by both the bootstrap and the linearized likes).",
        "ru": "Рекомендация: не ясно (тесты расходятся; бутстреп и линеаризация не подтверждают изменение вместе).",
    },
    "rec_no_effect": {
        "en": "Recommendation: inconclusive (no significant difference: neutral or underpowered).",
        "ru": "Рекомендация: не ясно (значимых различий нет: эффект нулевой или мала мощность).",
    },
    "ab_title": {"en": "A/B test: treatment {t} vs control {c}", "ru": "A/B-тест: группа {t} против контроля {c}"},
    "aa_title": {"en": "A/A test: groups {a} and {b}", "ru": "A/A-тест: группы {a} и {b}"},
    "yes": {"en": "yes", "ru": "да"},
    "no": {"en": "no", "ru": "нет"},
}
T = Catalog("experiments", _TEXTS)

_HEADERS: dict[str, dict[str, str]] = {
    "test": {"en": "Test", "ru": "Тест"},
    "statistic": {"en": "Statistic", "ru": "Статистика"},
    "pvalue": {"en": "p-value", "ru": "p-value"},
    "direction": {"en": "Direction", "ru": "Направление"},
    "significant": {"en": "Significant?", "ru": "Значим?"},
    "group": {"en": "Group", "ru": "Группа"},
    "users": {"en": "Users", "ru": "Пользователи"},
    "zero": {"en": "0-view users", "ru": "Без просмотров"},
    "ctr": {"en": "Global CTR", "ru": "Общий CTR"},
    "ci": {"en": "Bootstrap 95% CI", "ru": "95% ДИ бутстрепа"},
    "metric": {"en": "Metric", "ru": "Метрика"},
    "value": {"en": "Value", "ru": "Значение"},
    "verdict": {"en": "Verdict", "ru": "Вывод"},
    "tests": {"en": "Tests", "ru": "Тесты"},
    "polarization": {"en": "Polarisation check", "ru": "Проверка поляризации"},
    "control": {"en": "control", "ru": "контроль"},
    "treatment": {"en": "treatment", "ru": "тест"},
}
HEADERS = Catalog("experiment headers", _HEADERS)


def _t(key: str, lang: str, **values: object) -> str:
    return T.text(key, lang, **values)


def _h(key: str, lang: str) -> str:
    return HEADERS.word(key, lang)


def label(test: str, lang: str = DEFAULT_LANG) -> str:
    return TEST_LABELS.word(test, lang)


def pct(value: float, digits: int = 2, signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:+.{digits}%}" if signed else f"{value:.{digits}%}"


def num(value: float | None, digits: int = 4) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"


def pval(value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:.2e}" if value < 1e-4 else f"{value:.4f}"


# --- verdict texts ---------------------------------------------------------------------------------------------


def _aa_values(result: AAResult) -> dict[str, object]:
    cal = result.calibration
    a, b = result.groups
    lo, hi = result.fpr_ci
    ref_lo, _, ref_hi = cal.ranges["fpr"]
    dlo, dhi = cal.mean_diff_ci
    return {
        "fpr": pct(result.fpr),
        "lo": pct(lo),
        "hi": pct(hi),
        "alpha": result.alpha,
        "ks": pval(result.uniformity_pvalue),
        "d": num(result.uniformity_statistic, 3),
        "sims": f"{result.sims:,}",
        "p": pval(cal.pvalue),
        "share": pct(cal.pvalue, 1),
        "ref_lo": pct(ref_lo),
        "ref_hi": pct(ref_hi),
        "p_fpr": pval(cal.pvalues["fpr"]),
        "p_ks": pval(cal.pvalues["pvalue_ks"]),
        "p_diff": pval(cal.pvalues["mean_diff"]),
        "p_dist": pval(cal.pvalues["distribution_ks"]),
        "p_srm": pval(cal.srm_pvalue),
        "dd": num(cal.observed["distribution_ks"], 3),
        "ma": num(cal.mean_ctr[a]),
        "mb": num(cal.mean_ctr[b]),
        "diff": f"{cal.mean_diff:+.4f}",
        "dlo": f"{dlo:+.4f}",
        "dhi": f"{dhi:+.4f}",
        "ra": f"{result.users[a] + result.zero_view_users[a]:,}",
        "rb": f"{result.users[b] + result.zero_view_users[b]:,}",
    }


def aa_verdict_text(result: AAResult, lang: str = DEFAULT_LANG) -> str:
    """The calibrated verdict with its numbers; says "broken" only when the calibrated p-value is below 1 %."""
    values = _aa_values(result)
    status = result.verdict.status
    if status == "works":
        text = _t("aa_works", lang, **values)
    else:
        reasons = "; ".join(_t(f"aa_{reason}", lang, **values) for reason in result.verdict.reasons)
        text = _t(f"aa_{status}", lang, reasons=reasons, **values)
    text = f"{text} {_t('aa_full_groups', lang, **values)}"
    zero = sum(result.zero_view_users.values())
    return f"{text} {_t('aa_zero_views', lang, n=zero)}" if zero else text


def ab_verdict_text(result: ABResult, lang: str = DEFAULT_LANG) -> str:
    """The verdict as a few plain sentences (the polarisation warning first when it fires)."""
    return " ".join(ab_verdict_sentences(result, lang))


def result_json(result: AAResult | ABResult, lang: str = DEFAULT_LANG) -> dict[str, Any]:
    """The result's JSON (``to_dict``) with the verdict's text in ``lang``: the statistics know no language."""
    data = result.to_dict()
    text = aa_verdict_text(result, lang) if isinstance(result, AAResult) else ab_verdict_text(result, lang)
    data["verdict"]["text"] = text
    return data


def ab_verdict_sentences(result: ABResult, lang: str = DEFAULT_LANG) -> list[str]:
    verdict = result.verdict
    sentences = []
    if verdict.srm:
        sentences.append(_srm_sentence(result, lang))
    if verdict.polarization:
        sentences.append(_polarization_sentence(result, lang))
    sentences.append(
        _t(
            "effect",
            lang,
            c=num(result.ctr_control),
            t=num(result.ctr_treatment),
            effect=pct(verdict.effect, signed=True),
            lo=pct(verdict.effect_ci[0], signed=True),
            hi=pct(verdict.effect_ci[1], signed=True),
        )
    )
    sentences.extend(_agreement_sentences(result, lang))
    if not verdict.polarization and result.polarization.ks.significant(result.alpha):
        sentences.append(_t("distribution_differs", lang, ks=pval(result.polarization.ks.pvalue)))
    views = result.tests["views_t"]
    sentences.append(
        _t(
            "guardrail",
            lang,
            change=pct(result.views_change, signed=True),
            p=pval(views.pvalue),
            flag=_t("guardrail_flag", lang) if verdict.guardrail_hit else "",
        )
    )
    if not verdict.srm:
        sentences.append(_t("srm_ok", lang, n_c=result.users[0], n_t=result.users[1], p=pval(result.srm_pvalue)))
    zero = sum(result.zero_view_users)
    if zero:
        sentences.append(_t("zero_views", lang, n=zero))
    sentences.append(_t(f"rec_{verdict.reason}", lang))
    return sentences


def _srm_sentence(result: ABResult, lang: str) -> str:
    return _t("srm", lang, n_c=result.users[0], n_t=result.users[1], p=pval(result.srm_pvalue))


def _polarization_sentence(result: ABResult, lang: str) -> str:
    check = result.polarization
    return _t(
        "polarized",
        lang,
        spread=pct(check.spread_ratio - 1, 0, signed=True),
        lev=pval(check.levene.pvalue),
        p_down=pval(check.down.pvalue),
        p_up=pval(check.up.pvalue),
        low_cut=num(check.low_cut, 3),
        high_cut=num(check.high_cut, 3),
        low_t=pct(check.low_share[1], 1),
        low_c=pct(check.low_share[0], 1),
        high_t=pct(check.high_share[1], 1),
        high_c=pct(check.high_share[0], 1),
        effect=pct(result.verdict.effect, signed=True),
    )


def _agreement_sentences(result: ABResult, lang: str) -> list[str]:

    verdict = result.verdict
    out = []
    if verdict.agreeing_tests:
        out.append(
            _t(
                "agree",
                lang,
                tests="; ".join(label(n, lang) for n in verdict.agreeing_tests),
                k=len(verdict.agreeing_tests),
                n=len(CTR_TESTS),
            )
        )
    else:
        out.append(_t("none_agree", lang))
    if verdict.disagreeing_tests:
        out.append(_t("disagree", lang, tests="; ".join(label(n, lang) for n in verdict.disagreeing_tests)))
    return out


# --- tables ----------------------------------------------------------------------------------------------------


def ab_test_rows(result: ABResult, lang: str = DEFAULT_LANG) -> list[tuple[str, str, str, str, str]]:
    """(test, statistic, p-value, direction, significant?) for every test incl. bootstrap and guardrail."""

    rows = []
    for name in (*CTR_TESTS, "views_t"):
        if name == "poisson_bootstrap":
            low, high = result.bootstrap.diff_ci
            statistic = f"{num(result.ctr_treatment - result.ctr_control)} [{num(low)}, {num(high)}]"
            pvalue = result.bootstrap.pvalue
            if pvalue == 0:
                rows.append(
                    (
                        label(name, lang),
                        statistic,
                        f"< {1 / result.bootstrap.resamples:.4f}",
                        _direction_symbol(result, name),
                        _t("yes", lang),
                    )
                )
                continue
        else:
            statistic, pvalue = num(result.tests[name].statistic), result.tests[name].pvalue
        direction = _direction_symbol(result, name)
        significant = _t("yes", lang) if result.significant(name) else _t("no", lang)
        rows.append((label(name, lang), statistic, pval(pvalue), direction, significant))
    return rows


def _direction_symbol(result: ABResult, name: str) -> str:
    if name == "views_t":
        sign = int(np.sign(result.tests[name].statistic))
    else:
        sign = result.direction(name)
    return {1: "↑", -1: "↓"}.get(sign, "·")


def _md_table(headers: list[str], rows: list[tuple[str, ...]] | list[list[str]]) -> str:
    def line(cells: tuple[str, ...] | list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *(line(r) for r in rows)])


# --- markdown --------------------------------------------------------------------------------------------------


def ab_markdown(result: ABResult, lang: str = DEFAULT_LANG) -> str:
    """The full A/B report: groups, every test, the polarisation check and the verdict."""
    check_lang(lang)
    boot = result.bootstrap
    groups = [
        (
            f"{_h('control', lang)} ({result.control})",
            str(result.users[0]),
            str(result.zero_view_users[0]),
            num(result.ctr_control),
            f"[{num(boot.control_ci[0])}, {num(boot.control_ci[1])}]",
        ),
        (
            f"{_h('treatment', lang)} ({result.treatment})",
            str(result.users[1]),
            str(result.zero_view_users[1]),
            num(result.ctr_treatment),
            f"[{num(boot.treatment_ci[0])}, {num(boot.treatment_ci[1])}]",
        ),
    ]
    check = result.polarization
    polar = [
        ("spread ratio (CTR/mean, SD)", num(check.spread_ratio, 3)),
        ("Levene / Brown–Forsythe p", pval(check.levene.pvalue)),
        ("KS p, two-sided (per-user CTR)", pval(check.ks.pvalue)),
        ("KS p, more users down / up", f"{pval(check.down.pvalue)} / {pval(check.up.pvalue)}"),
        (
            f"share with CTR ≤ {num(check.low_cut, 3)} (control → treatment)",
            f"{pct(check.low_share[0], 1)} → {pct(check.low_share[1], 1)}",
        ),
        (
            f"share with CTR > {num(check.high_cut, 3)} (control → treatment)",
            f"{pct(check.high_share[0], 1)} → {pct(check.high_share[1], 1)}",
        ),
        ("flagged", _t("yes", lang) if check.flagged else _t("no", lang)),
    ]
    heads = [_h(k, lang) for k in ("test", "statistic", "pvalue", "direction", "significant")]
    parts = [
        f"# {_t('ab_title', lang, t=result.treatment, c=result.control)}",
        f"**{result.verdict.recommendation}** — {_t(f'rec_{result.verdict.reason}', lang)}",
        _md_table([_h(k, lang) for k in ("group", "users", "zero", "ctr", "ci")], groups),
        f"## {_h('tests', lang)}",
        f"alpha = {result.alpha}; SRM p = {pval(result.srm_pvalue)}; "
        f"smoothing α = {result.smoothing_alpha}; buckets = {result.buckets}; bootstrap = {boot.resamples}",
        _md_table(heads, ab_test_rows(result, lang)),
        f"## {_h('polarization', lang)}",
        _md_table([_h("metric", lang), _h("value", lang)], polar),
        f"## {_h('verdict', lang)}",
        "\n".join(f"- {s}" for s in ab_verdict_sentences(result, lang)),
    ]
    return "\n\n".join(parts) + "\n"


def aa_markdown(result: AAResult, lang: str = DEFAULT_LANG) -> str:
    """The A/A report: simulation setup, fpr with CI, uniformity, full groups, the calibration and the verdict."""
    check_lang(lang)
    a, b = result.groups
    cal = result.calibration
    values = _aa_values(result)
    rows = [
        ("simulations", f"{result.sims:,}"),
        ("sample size per group", str(result.sample_size)),
        (f"users with views > 0 ({a} / {b})", f"{result.users[a]} / {result.users[b]}"),
        (f"share of p ≤ {result.alpha}", pct(result.fpr)),
        ("95% CI (Wilson)", f"[{pct(result.fpr_ci[0])}, {pct(result.fpr_ci[1])}]"),
        ("KS p (p-values ~ U(0, 1))", pval(result.uniformity_pvalue)),
        ("KS distance D", num(result.uniformity_statistic, 4)),
        (f"mean user CTR, full groups ({a} / {b})", f"{values['ma']} / {values['mb']}"),
        ("difference, 95% CI", f"{values['diff']} [{values['dlo']}, {values['dhi']}]"),
        (f"users ({a} / {b}), SRM p", f"{values['ra']} / {values['rb']}, {values['p_srm']}"),
        ("calibrated p-value", pval(cal.pvalue)),
        ("verdict", result.verdict.status),
        ("works", _t("yes", lang) if result.verdict.works else _t("no", lang)),
    ]
    labels = {
        "fpr": f"share of p ≤ {result.alpha}",
        "pvalue_ks": f"KS distance of the p-values (grid of {len(_grid(result))} points)",
        "mean_diff": "|Welch t|, full groups",
        "distribution_ks": "KS distance of the groups' CTR distributions",
    }
    reference = [
        (
            labels[name],
            _stat(name, cal.observed[name]),
            " – ".join(_stat(name, v) for v in (cal.ranges[name][0], cal.ranges[name][2])),
            f"{cal.percentiles[name]:.1f}",
            pval(cal.pvalues[name]),
        )
        for name in cal.observed
    ]
    parts = [
        f"# {_t('aa_title', lang, a=a, b=b)}",
        _md_table([_h("metric", lang), _h("value", lang)], rows),
        f"## Fair random re-splits of the same users ({cal.resplits:,})",
        _md_table(["statistic", "observed", "fair splits (2.5–97.5 %)", "percentile", "p-value"], reference),
        f"Combined (min-p, calibrated on the re-splits) p = {pval(cal.split_pvalue)}; with the sample-ratio "
        f"check p = {pval(cal.pvalue)}. Verdict: works ≥ 0.05 > borderline ≥ 0.01 > broken.",
        f"## {_h('verdict', lang)}",
        aa_verdict_text(result, lang),
    ]
    return "\n\n".join(parts) + "\n"


def _grid(result: AAResult) -> np.ndarray:

    return pvalue_grid(result.alpha)


def _stat(name: str, value: float) -> str:
    return pct(value) if name == "fpr" else num(value, 3)


# --- Telegram HTML ---------------------------------------------------------------------------------------------


def _e(text: object) -> str:
    return escape(text)


def ab_telegram_html(result: ABResult, lang: str = DEFAULT_LANG) -> str:
    """A short Telegram message (HTML parse mode: b, i, code, pre only)."""
    check_lang(lang)
    rows = ab_test_rows(result, lang)
    width = max(len(r[0]) for r in rows)
    table = "\n".join(f"{r[0]:<{width}} {r[2]:>9} {r[3]} {r[4]}" for r in rows)
    head = _t("ab_title", lang, t=result.treatment, c=result.control)
    lines = [
        f"<b>{_e(head)}</b>",
        f"<b>{_e(result.verdict.recommendation)}</b>",
        f"<pre>{_e(table)}</pre>",
        "\n".join(
            f"<i>{_e(s)}</i>" if i == 0 and result.verdict.polarization else _e(s)
            for i, s in enumerate(ab_verdict_sentences(result, lang))
        ),
    ]
    return "\n".join(lines)


AA_ICONS = {"works": "✅", "borderline": "⚠️", "broken": "❌"}


def aa_telegram_html(result: AAResult, lang: str = DEFAULT_LANG) -> str:
    check_lang(lang)
    a, b = result.groups
    status = AA_ICONS[result.verdict.status]
    stats_line = (
        f"{result.verdict.status}: calibrated p = {pval(result.calibration.pvalue)}, "
        f"fpr = {pct(result.fpr)} [{pct(result.fpr_ci[0])}, {pct(result.fpr_ci[1])}], "
        f"KS p = {pval(result.uniformity_pvalue)}, sims = {result.sims}"
    )
    return "\n".join(
        [
            f"<b>{status} {_e(_t('aa_title', lang, a=a, b=b))}</b>",
            f"<code>{_e(stats_line)}</code>",
            _e(aa_verdict_text(result, lang)),
        ]
    )


# --- plots -----------------------------------------------------------------------------------------------------


def aa_figures(result: AAResult, bins: int = 20) -> dict[str, go.Figure]:
    """Histogram of the simulated p-values with the count a uniform distribution would give."""
    pvalues = result.pvalues[np.isfinite(result.pvalues)]
    counts, edges = np.histogram(pvalues, bins=bins, range=(0, 1))
    figure = go.Figure(
        go.Bar(
            x=(edges[:-1] + edges[1:]) / 2, y=counts, width=1 / bins * 0.95, name="p-values", marker_color=PALETTE[0]
        )
    )
    figure.add_hline(
        y=len(pvalues) / bins,
        line_dash="dash",
        line_color=PALETTE[3],
        annotation_text="uniform",
        annotation_position="top right",
    )
    apply_style(
        figure,
        f"A/A {result.groups[0]} vs {result.groups[1]}: p-values of {result.sims:,} t-tests (fpr {pct(result.fpr)})",
    )
    figure.update_xaxes(title_text="p-value", range=[0, 1])
    figure.update_yaxes(title_text="simulations")
    return {"aa_pvalues": figure}


def ab_figures(result: ABResult, bins: int = 50) -> dict[str, go.Figure]:
    """Overlaid per-user CTR histograms and the bootstrap distribution of the CTR difference."""
    ctr = go.Figure()
    for name, values, color in (
        (f"control ({result.control})", result.ctr_control_users, PALETTE[0]),
        (f"treatment ({result.treatment})", result.ctr_treatment_users, PALETTE[1]),
    ):
        ctr.add_trace(
            go.Histogram(
                x=values,
                name=name,
                histnorm="probability",
                opacity=0.55,
                xbins={"start": 0, "end": float(max(1.0, values.max())), "size": 1 / bins},
                marker_color=color,
            )
        )
    ctr.update_layout(barmode="overlay")
    apply_style(ctr, f"Per-user CTR: treatment {result.treatment} vs control {result.control}")
    ctr.update_xaxes(title_text="CTR")
    ctr.update_yaxes(title_text="share of users", tickformat=".0%")
    diff = result.bootstrap.diff
    boot = go.Figure(
        go.Histogram(x=diff[np.isfinite(diff)], nbinsx=60, name="treatment − control", marker_color=PALETTE[2])
    )
    low, high = result.bootstrap.diff_ci
    for x, dash, text in ((0.0, "solid", "0"), (low, "dash", "CI low"), (high, "dash", "CI high")):
        boot.add_vline(x=x, line_dash=dash, line_color=PALETTE[3], annotation_text=text)
    apply_style(boot, f"Poisson bootstrap: global CTR difference ({result.bootstrap.resamples:,} resamples)")
    boot.update_xaxes(title_text="CTR treatment − CTR control")
    boot.update_yaxes(title_text="resamples")
    return {"ab_ctr_hist": ctr, "ab_bootstrap_diff": boot}


def render_pngs(figures: Mapping[str, go.Figure], render: Render | None = None) -> dict[str, bytes]:
    """PNG bytes per figure; ``render`` defaults to one kaleido/Chromium session for all of them."""
    if render is not None:
        return {name: render(figure) for name, figure in figures.items()}
    from feedpulse.charts.render import ChartRenderer

    with ChartRenderer(scale=1.5) as renderer:
        return {name: renderer.png(figure) for name, figure in figures.items()}


def save_pngs(pngs: Mapping[str, bytes], directory: str | Path) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in pngs.items():
        path = directory / f"{name}.png"
        path.write_bytes(data)
        paths.append(path)
    return paths
