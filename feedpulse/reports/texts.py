"""Every user-facing text of the reports, in one place (the catalogs of :mod:`feedpulse.i18n`)."""

from __future__ import annotations

from feedpulse.i18n import Catalog, Lang
from feedpulse.metrics import definitions

_TEXTS: dict[str, dict[str, str]] = {
    "feed_title": {"ru": "📰 Лента: ключевые метрики за {day}", "en": "📰 Feed: key metrics for {day}"},
    "app_title": {"ru": "📱 Приложение: отчёт за {day}", "en": "📱 App: report for {day}"},
    "changes_feed": {
        "ru": "в скобках — изменение к {prev_day} и к {week_day}",
        "en": "in brackets: change vs {prev_day} and vs {week_day}",
    },
    "changes_app": {
        "ru": "изменения: к вчера / к неделе назад / к месяцу назад",
        "en": "changes: vs day before / week before / month before",
    },
    "section_audience": {"ru": "Аудитория", "en": "Audience"},
    "section_feed": {"ru": "Лента", "en": "Feed"},
    "section_messenger": {"ru": "Мессенджер", "en": "Messenger"},
    "dashboard": {"ru": "Дашборд", "en": "Dashboard"},
    "chart_feed_caption": {"ru": "Лента за 7 дней: {first} — {last}", "en": "Feed over 7 days: {first} — {last}"},
    "chart_app_caption": {
        "ru": "Приложение за неделю: {first} — {last}",
        "en": "App over the week: {first} — {last}",
    },
    "no_data": {
        "ru": "Нет данных за {day} в {table}: ETL за этот день не выполнен",
        "en": "No data for {day} in {table}: the daily ETL has not run for that day",
    },
    "day": {"ru": "день", "en": "day"},
    "date_axis": {"ru": "Дата", "en": "Date"},
    "why": {
        "ru": "↳ почему: {segment} — {share} % изменения ({change} % в сегменте)",
        "en": "↳ why: {segment} — {share}% of the change ({change}% in the segment)",
    },
    "why_uniform": {"ru": "↳ почему: везде примерно одинаково", "en": "↳ why: about the same everywhere"},
    "section_whole": {"ru": "Весь период (с {first})", "en": "Whole period (since {first})"},
    "whole_users": {"ru": "Пользователей за всё время: <b>{users}</b>", "en": "Users ever: <b>{users}</b>"},
    "whole_week": {
        "ru": "Неделя {first} — {last}: активных <b>{active}</b> — новые {new}, остались с прошлой недели "
        "{retained}, вернулись после перерыва {returning}; ушли {gone}",
        "en": "Week {first} — {last}: <b>{active}</b> active — {new} new, {retained} retained from the week "
        "before, {returning} back after a gap; {gone} gone",
    },
    "whole_retention": {
        "ru": "Удержание: 1-го дня {d1} (когорта {c1}), 7-го дня {d7} (когорта {c7})",
        "en": "Retention: day 1 {d1} (cohort of {c1}), day 7 {d7} (cohort of {c7})",
    },
}
TEXTS = Catalog("reports", _TEXTS)

# Labels of the figures that are not metrics of the metric layer (those take their titles from their
# definitions: feedpulse.metrics): the slices shown next to the app report's audience lines.
_METRICS: dict[str, dict[str, str]] = {
    "app_dau_ios": {"ru": "iOS", "en": "iOS"},
    "app_dau_android": {"ru": "Android", "en": "Android"},
    "new_users_ads": {"ru": "из рекламы", "en": "from ads"},
    "new_users_organic": {"ru": "органические", "en": "organic"},
}
METRICS = Catalog("report metrics", _METRICS)


def text(key: str, lang: Lang, **values: object) -> str:
    return TEXTS.text(key, lang, **values)


def metric(key: str, lang: Lang) -> str:
    """A figure's label: its metric's title (feedpulse.metrics), else the catalog's."""
    catalog = definitions()
    return catalog[key].label(lang) if key in catalog else METRICS.word(key, lang)
