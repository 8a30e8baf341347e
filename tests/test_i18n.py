"""One translation mechanism (issue 15): every text catalog is a feedpulse.i18n.Catalog with every
language, and one setting (FEEDPULSE_LANGUAGE) picks the default language of all of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from feedpulse.alerts import message
from feedpulse.config import Settings
from feedpulse.experiments import report
from feedpulse.i18n import DEFAULT_LANG, LANGS, Catalog, check_lang
from feedpulse.reports import texts

ROOT = Path(__file__).resolve().parents[1]
CATALOGS = [texts.TEXTS, texts.METRICS, message.TEXTS, report.T, report.HEADERS, report.TEST_LABELS]


def test_a_catalog_missing_a_language_fails_when_built() -> None:
    with pytest.raises(ValueError, match=r"demo text 'hello': missing languages \['en'\]"):
        Catalog("demo", {"hello": {"ru": "привет"}})
    with pytest.raises(ValueError, match="unknown language 'de'"):
        Catalog("demo", {"hello": {"ru": "привет", "en": "hi"}}).word("hello", "de")
    with pytest.raises(KeyError, match="demo has no text 'bye'"):
        Catalog("demo", {"hello": {"ru": "привет", "en": "hi"}}).word("bye", "en")


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda c: c.name)
def test_every_text_exists_in_every_language_with_the_same_fields(catalog: Catalog) -> None:
    for key in catalog:
        words = {lang: catalog.word(key, lang) for lang in LANGS}
        assert all(words.values()), (catalog.name, key)
        # the same {fields} in each language: a translation cannot drop the number it is about
        fields = {lang: sorted(re.findall(r"\{(\w+)", text)) for lang, text in words.items()}
        assert len({tuple(f) for f in fields.values()}) == 1, (catalog.name, key, fields)


def test_one_default_language_for_reports_alerts_and_experiments() -> None:
    assert Settings.from_env({}).language == DEFAULT_LANG == "ru"
    assert Settings.from_env({"FEEDPULSE_LANGUAGE": "en"}).language == "en"
    assert check_lang("en") == "en"
    # no module keeps its own language list or default: they all take feedpulse.i18n's
    own_tables = []
    for path in (ROOT / "feedpulse").rglob("*.py"):
        if path.name == "i18n.py":
            continue
        source = path.read_text()
        if re.search(r'LANGS\s*=|lang not in|lang(: \w+)? = "(ru|en)"', source):
            own_tables.append(str(path.relative_to(ROOT)))
    assert own_tables == []
