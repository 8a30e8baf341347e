"""The one translation mechanism of feedpulse: every user-facing text (reports, alerts, experiment
reports) lives in a :class:`Catalog` of ``key → {language: template}``, and one default language
serves them all.

The default is Russian, the language of the original app's reports and alert template; the
``FEEDPULSE_LANGUAGE`` setting (:mod:`feedpulse.config`) changes it for every entry point at once, and
each entry point (CLI ``--lang``, Dagster run config ``lang``, alerts.yaml ``language``) may still
override it. A catalog is checked when it is built: an entry missing a language fails at import,
not in the middle of an 11:00 report. No gettext: the texts are few, Python-formatted, and tests
read them as data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal, cast

Lang = Literal["ru", "en"]
LANGS: tuple[Lang, ...] = ("ru", "en")
DEFAULT_LANG: Lang = "ru"


def check_lang(lang: str) -> Lang:
    """``lang`` as a :data:`Lang`, or a ``ValueError`` naming the languages there are."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}: expected one of {', '.join(LANGS)}")
    return cast(Lang, lang)


class Catalog:
    """Texts by key and language. ``text`` fills a template's ``{fields}``; ``word`` returns it as is."""

    def __init__(self, name: str, entries: Mapping[str, Mapping[str, str]]) -> None:
        for key, translations in entries.items():
            if set(translations) != set(LANGS):
                missing = sorted(set(LANGS) - set(translations))
                extra = sorted(set(translations) - set(LANGS))
                raise ValueError(f"{name} text {key!r}: missing languages {missing}, unknown {extra}")
        self.name = name
        self._entries = {key: dict(translations) for key, translations in entries.items()}

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def word(self, key: str, lang: str) -> str:
        """The entry verbatim (labels, titles: no fields to fill)."""
        try:
            return self._entries[key][check_lang(lang)]
        except KeyError:
            raise KeyError(f"{self.name} has no text {key!r}") from None

    def text(self, key: str, lang: str, **values: object) -> str:
        """The entry's template filled with ``values``."""
        return self.word(key, lang).format(**values)
