"""Behaviour model of the simulated app and its numerical calibration.

Every behavioural constant used by the SQL generator lives in :class:`Model`. The constants marked
*calibrated* are solved with numpy/scipy by :func:`calibrate` so that the model's expectations hit
the published magnitudes of docs/architecture.md (app DAU, weekly users, user CTR, users per 15 minutes,
messages per sender) and the per-user shape of a week of the real app (:data:`SHAPE_TARGETS`,
issue 20). The solved values are frozen in :data:`CALIBRATED` so that a
simulation never pays for the calibration; ``python -m feedpulse.simulator.model`` re-solves them and
prints the result (paste it into :data:`CALIBRATED` after changing a target or a fixed constant).

Model in one paragraph: users are keyed by signup day ``s`` (days since 2020-01-01) and a slot
``k < n(s)``; ``user_id = s * capacity + k + 1``. A user is active on their signup day and, ``t``
days later, with probability ``q_class * exp(-t / tau_class) * weekday * day_noise`` (a mixture of
loyal and casual users); this sets how many days a week a user comes back, the main source of the
spread of weekly activity across users. A user's service type (feed, messenger, both) is fixed.
Feed users view a Poisson-ish number of posts per active day around a personal rate (lognormal,
narrow: users differ far less in how much they read per visit than in how often they come), or,
on a *glance* day, only a few posts; the views fall in 1–3 sessions whose start times follow a
daily curve, and each viewed post is liked with the user's personal (logit-normal) CTR, which is
lower for heavier readers. Messenger users send 1 + heavy-tailed messages to a small personal
contact set, each at an independent time drawn from a flatter curve.

Issue 20: the per-user rate used to be lognormal with σ ≈ 1.23, tuned to the published median of 51
weekly views; that produced q99 = 25× the median (the real app: 3.5×). The real shape and 740k
views a day cannot both hold with a median of 51 (see :data:`SHAPE_TARGETS`): the daily magnitudes
and the shape are kept, the median weekly views is ≈ 110.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np

EPOCH = dt.date(2020, 1, 1)
SECONDS_PER_DAY = 86_400
QUANTILES = 1024  # resolution of the inverse-CDF tables embedded in the SQL

# Published magnitudes (docs/architecture.md) that the calibration aims at.
TARGETS: dict[str, float] = {
    "app_dau": 20_600,
    "feed_dau": 18_700,
    "messenger_dau": 2_100,
    "both_dau": 275,
    "views_per_day": 740_000,
    "global_ctr": 0.212,
    "user_ctr_mean": 0.22,
    "user_ctr_median": 0.21,
    "weekly_users": 45_500,
    "weekly_views_median": 51,
    "messages_per_sender": 6.3,
    "feed_users_0400": 150,
    "feed_users_1900": 770,
    "messages_0400": 64,
}

# Per-user shape of one week in the original app's real A/A week (groups 2 and 3, users with ≥ 1
# view, ≈ 17k users; issue 20): quantiles of views and likes per user as multiples of their median,
# the spread of user CTR, users with views but no like, mean user CTR and global CTR. The simulator
# must stay within ±SHAPE_TOLERANCE of each. With this shape the mean of weekly views per user is
# ≈ 1.2× the median, so 740k views a day from ≈ 42k weekly feed users put the median at ≈ 110
# weekly views, not the published 51 (which came from an earlier, smaller period of the app).
SHAPE_TARGETS: dict[str, float] = {
    "views q10 / median": 0.30,
    "views q25 / median": 0.56,
    "views q90 / median": 2.2,
    "views q99 / median": 3.5,
    "likes q10 / median": 0.31,
    "likes q25 / median": 0.54,
    "likes q90 / median": 2.3,
    "likes q99 / median": 3.9,
    "user CTR standard deviation": 0.081,
    "users with views but no like": 0.004,
    "mean user CTR": 0.219,
    "global CTR": 0.211,
}
SHAPE_TOLERANCE = 0.20
SHAPE_GROUPS = (2, 3)  # the real app's A/A pair the targets were measured on

# Hourly shape of feed activity (relative, hour 0..23); raised to a calibrated power.
FEED_HOURLY = (
    0.60, 0.45, 0.32, 0.24, 0.20, 0.21, 0.28, 0.42, 0.56, 0.66, 0.72, 0.76,
    0.80, 0.82, 0.83, 0.85, 0.88, 0.93, 0.98, 1.00, 0.98, 0.93, 0.84, 0.72,
)  # fmt: skip

# Age buckets: (low, high inclusive, user share). 55+ is the remainder.
AGE_BUCKETS = (
    (14, 17, 0.135),
    (18, 24, 0.387),
    (25, 34, 0.256),
    (35, 44, 0.146),
    (45, 54, 0.058),
    (55, 84, 0.018),
)

# (country, city, weight): mostly Russia; the four big Russian cities hold ≈17% of users.
CITIES = (
    ("Russia", "Moscow", 8.0), ("Russia", "Saint Petersburg", 4.5), ("Russia", "Novosibirsk", 2.3),
    ("Russia", "Yekaterinburg", 2.2), ("Russia", "Kazan", 1.9), ("Russia", "Nizhny Novgorod", 1.8),
    ("Russia", "Chelyabinsk", 1.7), ("Russia", "Samara", 1.7), ("Russia", "Omsk", 1.6),
    ("Russia", "Rostov", 1.6), ("Russia", "Ufa", 1.6), ("Russia", "Krasnoyarsk", 1.5),
    ("Russia", "Voronezh", 1.5), ("Russia", "Perm", 1.5), ("Russia", "Volgograd", 1.4),
    ("Russia", "Krasnodar", 1.4), ("Russia", "Saratov", 1.2), ("Russia", "Tyumen", 1.2),
    ("Russia", "Tolyatti", 1.1), ("Russia", "Izhevsk", 1.0), ("Russia", "Barnaul", 1.0),
    ("Russia", "Irkutsk", 1.0), ("Russia", "Khabarovsk", 0.9), ("Russia", "Yaroslavl", 0.9),
    ("Russia", "Vladivostok", 0.9), ("Russia", "Tomsk", 0.8), ("Russia", "Orenburg", 0.8),
    ("Russia", "Kemerovo", 0.8), ("Russia", "Ryazan", 0.7), ("Russia", "Astrakhan", 0.7),
    ("Russia", "Penza", 0.7), ("Russia", "Lipetsk", 0.7), ("Russia", "Tula", 0.7),
    ("Russia", "Kirov", 0.7), ("Russia", "Kaliningrad", 0.7), ("Russia", "Bryansk", 0.6),
    ("Russia", "Kursk", 0.6), ("Russia", "Tver", 0.6), ("Russia", "Sochi", 0.6),
    ("Russia", "Smolensk", 0.5), ("Russia", "Murmansk", 0.5), ("Russia", "Arkhangelsk", 0.5),
    ("Russia", "Other", 14.0),
    ("Ukraine", "Kyiv", 3.0), ("Ukraine", "Kharkiv", 1.5), ("Ukraine", "Odessa", 1.2),
    ("Ukraine", "Dnipro", 1.0), ("Ukraine", "Lviv", 0.9),
    ("Belarus", "Minsk", 2.5), ("Belarus", "Gomel", 0.6), ("Belarus", "Brest", 0.4),
    ("Kazakhstan", "Almaty", 1.8), ("Kazakhstan", "Astana", 1.0), ("Kazakhstan", "Karaganda", 0.5),
    ("Azerbaijan", "Baku", 1.0), ("Uzbekistan", "Tashkent", 0.9), ("Armenia", "Yerevan", 0.6),
    ("Kyrgyzstan", "Bishkek", 0.5), ("Latvia", "Riga", 0.4), ("Estonia", "Tallinn", 0.3),
    ("Finland", "Helsinki", 0.3), ("Turkey", "Istanbul", 0.4), ("Cyprus", "Limassol", 0.2),
)  # fmt: skip

# Values solved by calibrate(); see the module docstring.
CALIBRATED: dict[str, float] = {
    "loyal_share": 0.1149,
    "casual_q": 0.6572,
    "view_sigma": 0.2904,
    "ctr_logit_sd": 0.3984,
    "ctr_rate_rho": -0.6082,
    "glance_share": 0.0332,
    "msg_rate_mean": 5.7482,
    "feed_gamma": 1.0793,
    "view_gap_seconds": 23.132,
    "msg_gamma": 0.7324,
}


@dataclass(frozen=True)
class Model:
    """All behavioural constants (per unit of ``scale``; behaviour per user never scales)."""

    new_users_per_day: float = 1300.0
    new_users_noise: float = 0.10  # uniform ± around the mean
    new_users_weekday: tuple[float, ...] = (1.03, 1.02, 1.01, 1.00, 0.99, 0.96, 0.99)  # Mon..Sun
    window_days: int = 180  # users older than this never come back
    loyal_q: float = 0.80
    loyal_tau: float = 300.0
    casual_tau: float = 5.0
    loyal_share: float = CALIBRATED["loyal_share"]
    casual_q: float = CALIBRATED["casual_q"]
    day_noise: float = 0.03  # uniform ± on activity, shared by all users of a day
    feed_weekday: tuple[float, ...] = (1.01, 1.00, 1.00, 1.00, 0.99, 0.99, 1.01)
    messenger_weekday: tuple[float, ...] = (1.09, 1.08, 1.08, 1.08, 1.07, 0.80, 0.80)
    # Service types (user shares): feed only, messenger only, both = remainder.
    feed_only_share: float = 0.8977
    messenger_only_share: float = 0.0889
    gender1_share: float = 0.55
    ios_share: float = 0.34
    ads_share: float = 0.90
    # Feed behaviour.
    views_per_active_day: float = 39.6
    view_sigma: float = CALIBRATED["view_sigma"]  # lognormal sigma of a user's view rate
    daily_sigma: float = 0.35  # lognormal day-to-day variation of a user's views
    glance_share: float = CALIBRATED["glance_share"]  # active days that are a glance: a few views only
    glance_scale: float = 4.0  # views of a glance day: 1 + floor(Exponential(mean glance_scale))
    ctr_median: float = 0.21
    ctr_logit_sd: float = CALIBRATED["ctr_logit_sd"]
    ctr_rate_rho: float = CALIBRATED["ctr_rate_rho"]
    session_shares: tuple[float, float, float] = (0.55, 0.30, 0.15)  # 1, 2, 3 sessions
    view_gap_seconds: float = CALIBRATED["view_gap_seconds"]
    feed_gamma: float = CALIBRATED["feed_gamma"]
    posts_per_day: int = 100
    post_age_mean_days: float = 3.0
    # Messenger behaviour.
    msg_rate_mean: float = CALIBRATED["msg_rate_mean"]
    msg_rate_sigma: float = 0.8
    contacts_mean: float = 2.0
    msg_gamma: float = CALIBRATED["msg_gamma"]
    # Ad-campaign users (new_users anomalies): activity on the days after signup.
    campaign_q: float = 0.30
    hourly: tuple[float, ...] = field(default=FEED_HOURLY)

    def capacity(self, scale: float) -> int:
        """Slots per signup day: 4 × the max base users (room for ad-campaign users)."""
        max_new = self.new_users_per_day * scale * (1 + self.new_users_noise) * max(self.new_users_weekday)
        return 4 * (1 << max(1, math.ceil(math.log2(max_new + 1))))

    def base_slots(self, scale: float) -> int:
        return self.capacity(scale) // 4

    @property
    def ctr_logit_median(self) -> float:
        return math.log(self.ctr_median / (1 - self.ctr_median))

    @property
    def glance_views_mean(self) -> float:
        """Mean views of a glance day: 1 + E[floor(X)], X ~ Exponential(mean ``glance_scale``)."""
        return 1 + 1 / math.expm1(1 / self.glance_scale)

    @property
    def view_mu(self) -> float:
        """Log-mean of the per-user view rate so that an active day (glance or not) has ``views_per_active_day``."""
        g = self.glance_share
        full_mean = (self.views_per_active_day - g * self.glance_views_mean) / (1 - g)
        return math.log(full_mean) - self.view_sigma**2 / 2

    def curve_quantiles(self, gamma: float) -> list[int]:
        """Inverse-CDF table (seconds of day) of the hourly curve raised to ``gamma``."""
        return inverse_cdf(np.asarray(self.hourly) ** gamma)

    def feed_quantiles(self) -> list[int]:
        return self.curve_quantiles(self.feed_gamma)

    def messenger_quantiles(self) -> list[int]:
        return self.curve_quantiles(self.msg_gamma)


def inverse_cdf(hourly: np.ndarray, quantiles: int = QUANTILES) -> list[int]:
    """Seconds-of-day at ``quantiles + 1`` equally spaced probabilities of a smooth daily curve.

    The hourly weights are interpolated linearly (periodically) to minutes, so the density is smooth.
    """
    hours = np.arange(24) + 0.5
    minutes = (np.arange(1440) + 0.5) / 60
    density = np.interp(minutes, np.r_[hours - 24, hours, hours + 24], np.r_[hourly, hourly, hourly])
    cdf = np.r_[0.0, np.cumsum(density)] / density.sum()
    probs = np.linspace(0, 1, quantiles + 1)
    seconds = np.interp(probs, cdf, np.arange(1441) * 60.0)
    return [round(x) for x in np.minimum(seconds, SECONDS_PER_DAY - 1)]


def sample_curve(table: list[int], u: np.ndarray) -> np.ndarray:
    """numpy twin of the SQL inverse-CDF lookup (linear between table points)."""
    arr = np.asarray(table, dtype=float)
    pos = u * (len(arr) - 1)
    i = np.minimum(pos.astype(int), len(arr) - 2)
    return arr[i] + (arr[i + 1] - arr[i]) * (pos - i)


# ----------------------------------------------------------------------------------------------------
# Calibration (numpy; run offline, results frozen in CALIBRATED)
# ----------------------------------------------------------------------------------------------------


def activity_curves(m: Model) -> tuple[np.ndarray, np.ndarray]:
    """P(active) at ages t = 0..window for loyal and casual users."""
    t = np.arange(m.window_days + 1)
    loyal = m.loyal_q * np.exp(-t / m.loyal_tau)
    casual = m.casual_q * np.exp(-t / m.casual_tau)
    loyal[0] = casual[0] = 1.0
    return loyal, casual


def expected_dau(m: Model) -> float:
    loyal, casual = activity_curves(m)
    return m.new_users_per_day * (m.loyal_share * loyal.sum() + (1 - m.loyal_share) * casual.sum())


def _weekly_active(p: np.ndarray, window: int) -> float:
    """Expected users active at least once in a 7-day week, per signup-day cohort size 1."""
    total = 0.0
    for a in range(-6, window + 1):
        ages = np.arange(a, a + 7)
        ages = ages[(ages >= 0) & (ages <= window)]
        total += 1 - np.prod(1 - p[ages])
    return total


def expected_weekly_users(m: Model) -> float:
    loyal, casual = activity_curves(m)
    share = m.loyal_share
    return m.new_users_per_day * (
        share * _weekly_active(loyal, m.window_days) + (1 - share) * _weekly_active(casual, m.window_days)
    )


def solve_retention(m: Model) -> tuple[float, float]:
    """(loyal_share, casual_q) so that app DAU and weekly users hit their targets."""
    from dataclasses import replace

    from scipy.optimize import least_squares

    def residuals(x: np.ndarray) -> list[float]:
        mm = replace(m, loyal_share=float(x[0]), casual_q=float(x[1]))
        return [
            (expected_dau(mm) - TARGETS["app_dau"]) / TARGETS["app_dau"],
            (expected_weekly_users(mm) - TARGETS["weekly_users"]) / TARGETS["weekly_users"],
        ]

    res = least_squares(residuals, [m.loyal_share, m.casual_q], bounds=([0.01, 0.01], [0.6, 0.95]))
    return float(res.x[0]), float(res.x[1])


def _sample_week(m: Model, rng: np.random.Generator, n: int) -> np.ndarray:
    """Active-day indicators (n × 7) for users drawn from the weekly population."""
    loyal, casual = activity_curves(m)
    ages0 = rng.integers(-6, m.window_days + 1, size=n)
    is_loyal = rng.random(n) < m.loyal_share
    ages = ages0[:, None] + np.arange(7)[None, :]
    valid = (ages >= 0) & (ages <= m.window_days)
    clipped = np.clip(ages, 0, m.window_days)
    p = np.where(is_loyal[:, None], loyal[clipped], casual[clipped]) * valid
    return rng.random((n, 7)) < p


def day_views(m: Model, rng: np.random.Generator, rate: np.ndarray) -> np.ndarray:
    """Views of active days (numpy twin of the SQL): around the user's rate, or a glance."""
    lam = rate * np.exp(m.daily_sigma * rng.standard_normal(rate.shape) - m.daily_sigma**2 / 2)
    full = np.maximum(1, np.round(lam + np.sqrt(lam) * rng.standard_normal(rate.shape)))
    glance = 1 + np.floor(-np.log(1 - rng.random(rate.shape)) * m.glance_scale)
    return np.where(rng.random(rate.shape) < m.glance_share, glance, full)


def user_rates(m: Model, rng: np.random.Generator, users: int) -> tuple[np.ndarray, np.ndarray]:
    """(view rate, CTR) per user: lognormal rate, logit-normal CTR correlated with it by ``ctr_rate_rho``."""
    z_rate = rng.standard_normal(users)
    z_ctr = m.ctr_rate_rho * z_rate + math.sqrt(1 - m.ctr_rate_rho**2) * rng.standard_normal(users)
    rate = np.exp(m.view_mu + m.view_sigma * z_rate)
    ctr = 1 / (1 + np.exp(-(m.ctr_logit_median + m.ctr_logit_sd * z_ctr)))
    return rate, ctr


def simulate_week_views(m: Model, rng: np.random.Generator, n: int = 60_000) -> dict[str, np.ndarray]:
    """Monte Carlo of one week: per weekly-active user views and likes."""
    active = _sample_week(m, rng, n)
    active = active[active.any(axis=1)]
    users = active.shape[0]
    rate, ctr = user_rates(m, rng, users)
    views = (day_views(m, rng, np.repeat(rate[:, None], 7, axis=1)) * active).sum(axis=1)
    likes = rng.binomial(views.astype(np.int64), ctr)
    return {"views": views, "likes": likes, "ctr": ctr, "rate": rate}


def exact_quantile(values: np.ndarray, level: float) -> float:
    """ClickHouse's ``quantileExact``: the element at index floor(level × n) of the sorted values."""
    ordered = np.sort(values)
    return float(ordered[min(len(ordered) - 1, int(level * len(ordered)))])


def shape_figures(views: np.ndarray, likes: np.ndarray) -> dict[str, float]:
    """The :data:`SHAPE_TARGETS` figures of per-user weekly views and likes (users with ≥ 1 view)."""
    keep = views > 0
    views, likes = views[keep].astype(float), likes[keep].astype(float)
    out: dict[str, float] = {}
    for name, values in (("views", views), ("likes", likes)):
        median = exact_quantile(values, 0.5)
        for level in (0.10, 0.25, 0.90, 0.99):
            out[f"{name} q{round(level * 100)} / median"] = exact_quantile(values, level) / median
    ctr = likes / views
    out["user CTR standard deviation"] = float(ctr.std())
    out["users with views but no like"] = float(np.mean(likes == 0))
    out["mean user CTR"] = float(ctr.mean())
    out["global CTR"] = float(likes.sum() / views.sum())
    return out


def shape_residuals(m: Model, seed: int = 7, n: int = 1_500_000) -> list[float]:
    """log(simulated / real) of every shape figure, on a Monte Carlo week.

    ≈ 275k weekly users, so the 0.4 % without a like are ≈ 1,100 users (±3 % sampling noise)."""
    week = simulate_week_views(m, np.random.default_rng(seed), n)
    figures = shape_figures(week["views"], week["likes"])
    return [math.log(figures[k] / v) for k, v in SHAPE_TARGETS.items()]


def solve_feed(m: Model, seed: int = 7) -> tuple[float, float, float, float]:
    """(view_sigma, ctr_logit_sd, ctr_rate_rho, glance_share) for the per-user shape of a week.

    Minimizes the squared log errors of :data:`SHAPE_TARGETS` plus the square of the worst one, so
    no figure is left near the edge of its ±20 % (likes q10 is 6 or 7 likes: a step of 4 % of
    the target). Nelder–Mead from a hand-found start, since quantiles of counts are step functions
    of the parameters. The mean views per active day is fixed by ``view_mu``."""
    from dataclasses import replace

    from scipy.optimize import minimize

    def loss(x: np.ndarray) -> float:
        sigma, sd, rho, glance = (float(v) for v in x)
        if not (0.05 < sigma < 2 and 0.05 < sd < 2 and -0.95 < rho < 0.95 and 0 <= glance < 0.3):
            return 1e6
        mm = replace(m, view_sigma=sigma, ctr_logit_sd=sd, ctr_rate_rho=rho, glance_share=glance)
        residuals = np.asarray(shape_residuals(mm, seed))
        return float(np.sum(np.square(residuals)) + 4 * np.max(np.abs(residuals)) ** 2)

    x0 = [0.29, 0.40, -0.61, 0.033]
    res = minimize(loss, x0, method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-6, "maxiter": 120})
    return tuple(float(v) for v in res.x)  # type: ignore[return-value]


def solve_messages(m: Model, seed: int = 7) -> float:
    """Mean of the per-sender message rate so that a sender sends ≈6.3 messages a day."""
    from scipy.optimize import brentq

    rng = np.random.default_rng(seed)
    z = rng.standard_normal(200_000)
    e = -np.log(rng.random(200_000))

    def gap(mean: float) -> float:
        rate = np.exp(math.log(mean) - m.msg_rate_sigma**2 / 2 + m.msg_rate_sigma * z)
        return float(np.mean(1 + np.floor(rate * e)) - TARGETS["messages_per_sender"])

    return float(brentq(gap, 1.0, 20.0, xtol=1e-4))


def feed_users_per_bucket(m: Model, gamma: float, gap: float, seed: int = 7, n: int = 20_000) -> np.ndarray:
    """Monte Carlo: expected feed users per 15-minute bucket (96 values) on an average day."""
    rng = np.random.default_rng(seed)
    table = m.curve_quantiles(gamma)
    rate = np.exp(m.view_mu + m.view_sigma * rng.standard_normal(n))
    views = day_views(m, rng, rate).astype(int)
    u = rng.random(n)
    sessions = 1 + (u < 1 - m.session_shares[0]) + (u < m.session_shares[2])
    user = np.repeat(np.arange(n), views)
    j = np.arange(views.sum()) - np.repeat(np.cumsum(views) - views, views)
    sess = j % sessions[user]
    starts = sample_curve(table, rng.random((n, 3)))
    length = views / sessions * gap * (0.5 + rng.random(n))
    t = (starts[user, sess] + np.floor(rng.random(user.size) * length[user])) % SECONDS_PER_DAY
    bucket = (t // 900).astype(int)
    touched = np.unique(user * 96 + bucket)
    counts = np.bincount(touched % 96, minlength=96) / n
    feed_share = m.feed_only_share + (1 - m.feed_only_share - m.messenger_only_share)
    return counts * TARGETS["app_dau"] * feed_share


def solve_intraday(m: Model) -> tuple[float, float, float]:
    """(feed_gamma, view_gap_seconds, msg_gamma) for the 15-minute targets at 04:00 and 19:00."""
    from scipy.optimize import brentq, least_squares

    def residuals(x: np.ndarray) -> list[float]:
        users = feed_users_per_bucket(m, float(x[0]), float(x[1]))
        return [
            math.log(users[16] / TARGETS["feed_users_0400"]),
            math.log(users[76] / TARGETS["feed_users_1900"]),
        ]

    res = least_squares(
        residuals, [m.feed_gamma, m.view_gap_seconds], bounds=([0.2, 1.0], [4.0, 120.0]), diff_step=0.05
    )

    messages_per_day = TARGETS["messenger_dau"] * TARGETS["messages_per_sender"]

    def night_gap(gamma: float) -> float:
        table = np.asarray(m.curve_quantiles(gamma), dtype=float)
        share = np.mean((table >= 4 * 3600) & (table < 4 * 3600 + 900))
        return float(share * messages_per_day - TARGETS["messages_0400"])

    msg_gamma = brentq(night_gap, 0.05, 3.0, xtol=1e-4)
    return float(res.x[0]), float(res.x[1]), float(msg_gamma)


def calibrate(m: Model | None = None) -> dict[str, float]:
    """Solve every calibrated constant (a few minutes); returns the new CALIBRATED dict."""
    from dataclasses import replace

    m = m or Model()
    loyal_share, casual_q = solve_retention(m)
    m = replace(m, loyal_share=loyal_share, casual_q=casual_q)
    view_sigma, ctr_sd, rho, glance = solve_feed(m)
    m = replace(m, view_sigma=view_sigma, ctr_logit_sd=ctr_sd, ctr_rate_rho=rho, glance_share=glance)
    msg_rate = solve_messages(m)
    feed_gamma, gap, msg_gamma = solve_intraday(m)
    return {
        "loyal_share": round(loyal_share, 4),
        "casual_q": round(casual_q, 4),
        "view_sigma": round(view_sigma, 4),
        "ctr_logit_sd": round(ctr_sd, 4),
        "ctr_rate_rho": round(rho, 4),
        "glance_share": round(glance, 4),
        "msg_rate_mean": round(msg_rate, 4),
        "feed_gamma": round(feed_gamma, 4),
        "view_gap_seconds": round(gap, 3),
        "msg_gamma": round(msg_gamma, 4),
    }


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(calibrate(), indent=4))
