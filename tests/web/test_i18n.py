"""Both languages for every word, and the locale's dates and numbers (Babel)."""

from __future__ import annotations

from datetime import date

from realname.registry.errors import RegistryErrorCode
from realname.web.i18n import MESSAGES, Translator, chosen_locale
from realname.web.refusals import REFUSALS, explain


def test_every_message_has_both_languages() -> None:
    for key, (zh, en) in MESSAGES.items():
        assert zh.strip() and en.strip(), key
        assert zh != en or key == "app.name", key


def test_dates_and_numbers_follow_the_locale() -> None:
    zh, en = Translator("zh-CN"), Translator("en")
    assert zh.day(date(2026, 11, 30)) == "2026年11月30日"
    assert en.day("2026-11-30") == "30 Nov 2026"
    assert zh.number(1234567) == "1,234,567" and en.percent(0.339) == "33.9%"
    assert zh.instant(None) == "—"


def test_the_default_is_chinese_and_only_known_locales_are_taken() -> None:
    assert chosen_locale(None) == "zh-CN"
    assert chosen_locale("fr") == "zh-CN"
    assert chosen_locale("en") == "en"


def test_refusals_name_registry_codes_and_give_one_line() -> None:
    codes = {str(c) for c in RegistryErrorCode}
    for code, (zh, en) in REFUSALS.items():
        assert code in codes or code in ("NOT_FOUND", "PERMISSION_DENIED", "INVALID_ARGUMENT")
        assert "\n" not in zh and "\n" not in en
    assert explain("REALNAME.CAP_EXCEEDED", "x", "en").startswith("This ID already holds")
    assert explain("REALNAME.SOMETHING_NEW", "the API's words", "zh-CN") == "the API's words"
