"""The translation catalogs: every string has its Simplified Chinese translation, and the
compiled .mo files that ship (CI needs no gettext) say exactly what the .po files say.
After `make messages` adds new strings, these tests name the ones still to translate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import simrenew

LOCALE_DIR = Path(simrenew.__file__).resolve().parent / "locale"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")


def catalog(language: str, kind: str) -> Catalog:
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"django.{kind}"
    assert path.exists(), f"{path} is missing: run `make messages`"
    with path.open("rb") as handle:
        return read_po(handle, locale=language) if kind == "po" else read_mo(handle)


def strings(message: Message) -> list[str]:
    return [message.string] if isinstance(message.string, str) else list(message.string)


def ids(message: Message) -> list[str]:
    return [message.id] if isinstance(message.id, str) else list(message.id)


def translated(messages: Catalog) -> dict[object, object]:
    return {
        message.id if isinstance(message.id, str) else tuple(message.id): (
            message.string if isinstance(message.string, str) else tuple(message.string)
        )
        for message in messages
        if message.id and not message.fuzzy and all(strings(message))
    }


def test_every_string_has_a_chinese_translation():
    zh = catalog("zh_Hans", "po")

    untranslated = [message.id for message in zh if message.id and not all(strings(message))]
    fuzzy = [message.id for message in zh if message.id and message.fuzzy]

    assert len(zh) > 100
    assert untranslated == [], "translate these in src/simrenew/locale/zh_Hans/LC_MESSAGES/django.po"
    assert fuzzy == [], "check these fuzzy guesses, then drop the fuzzy flag"
    assert not zh.fuzzy, "a fuzzy header is skipped by msgfmt"


def test_translations_keep_every_placeholder():
    for message in catalog("zh_Hans", "po"):
        if not message.id:
            continue
        wanted = {match.group(0) for text in ids(message) for match in PLACEHOLDER.finditer(text)}
        for text in strings(message):
            assert {match.group(0) for match in PLACEHOLDER.finditer(text)} == wanted, message.id


@pytest.mark.parametrize("language", ["zh_Hans", "en"])
def test_the_compiled_catalog_matches_its_source(language):
    source = translated(catalog(language, "po"))
    compiled = translated(catalog(language, "mo"))

    stale = sorted(str(key) for key in source.keys() ^ compiled.keys())
    assert stale == [], "the .mo is out of date: run `make messages` (or `simrenew compilemessages`)"
    assert {key: value for key, value in compiled.items() if source[key] != value} == {}


def test_chinese_reads_naturally_for_the_words_customers_see_most():
    zh = translated(catalog("zh_Hans", "po"))

    assert zh["Log in"] == "登录"
    assert zh["Renew"] == "续订"
    assert zh["Auto-renew"] == "自动续订"
    assert zh["Data left"] == "剩余流量"
    assert zh["My eSIMs"] == "我的 eSIM"
