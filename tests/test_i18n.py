"""kehu.i18n and every message catalogue shipped in this repository: each key in
both languages, with the same placeholders."""

from pathlib import Path

import pytest

from kehu.i18n import LANGUAGES, Messages, best_language, missing_keys, placeholders, read_catalogues

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE_DIRECTORIES = sorted(path.parent for path in ROOT.glob("plugins/*/messages/en.json"))


@pytest.mark.parametrize(
    "header, expected",
    [
        (None, "en"),
        ("", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("zh", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("zh_SG", "zh-CN"),
        ("en-GB,zh;q=0.5", "en"),
        ("zh-TW,en;q=0.8", "en"),  # Traditional is not Simplified: the next preference wins
        ("zh-Hant", "en"),
        ("fr-FR,de;q=0.8", "en"),
        ("fr, zh;q=0.3, en;q=0.2", "zh-CN"),
        ("en;q=0.1, zh-CN;q=0.9", "zh-CN"),
        ("zh-CN;q=0, en", "en"),
        ("zh-CN;q=bogus, en;q=0.5", "en"),
    ],
)
def test_best_language_follows_the_browsers_preferences(header, expected):
    assert best_language(header) == expected


def test_messages_fall_back_to_english_then_to_the_key():
    catalogues = {"en": {"a": "Hello {name}", "b": "Only English"}, "zh-CN": {"a": "你好，{name}"}}
    t = Messages(catalogues, "zh-CN")
    assert t("a", name="李雷") == "你好，李雷"
    assert t("b") == "Only English"
    assert t("nowhere") == "nowhere"
    assert t("a", other=1) == "你好，{name}", "an unknown placeholder stays visible"
    assert Messages(catalogues, "fr").language == "en"


def test_missing_keys_names_each_languages_gaps():
    assert missing_keys({"en": {"a": "", "b": ""}, "zh-CN": {"a": "", "c": ""}}) == {"en": ["c"], "zh-CN": ["b"]}
    assert missing_keys({"en": {"a": ""}, "zh-CN": {"a": ""}}) == {}


def test_read_catalogues_refuses_a_catalogue_that_is_not_flat(tmp_path):
    (tmp_path / "en.json").write_text('{"a": {"nested": "no"}}', encoding="utf-8")
    with pytest.raises(ValueError, match="one JSON object of strings"):
        read_catalogues(tmp_path)


def test_the_repository_ships_catalogues():
    names = {d.parent.name for d in CATALOGUE_DIRECTORIES}
    assert {"console", "surveys", "complaints", "loyalty", "segmentation"} <= names


@pytest.mark.parametrize("directory", CATALOGUE_DIRECTORIES, ids=lambda d: d.parent.name)
def test_every_key_is_in_both_languages_with_the_same_placeholders(directory):
    catalogues = read_catalogues(directory)
    assert set(catalogues) == set(LANGUAGES)
    assert missing_keys(catalogues) == {}, f"{directory}: keys missing in a language"
    english = catalogues["en"]
    for language, entries in catalogues.items():
        for key, text in entries.items():
            assert text.strip(), f"{directory}/{language}.json: {key} is empty"
            assert placeholders(text) == placeholders(english[key]), f"{directory}/{language}.json: {key}"
