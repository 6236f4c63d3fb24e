"""Languages for what a person reads in a browser: the console and public pages.

kehu speaks Simplified Chinese (``zh-CN``) and English (``en``). Texts live in
message catalogues, one flat JSON object per language (``messages/en.json``,
``messages/zh-CN.json``: ``{"key": "text with {placeholders}"}``), so a missing
key is a test failure rather than a blank on a page: ``missing_keys`` names the
keys one language has and another lacks.

What the browser asks for (``Accept-Language``) picks the language when nothing
chose one (``best_language``). Numbers, dates and money are formatted by the
browser (``Intl``) in the console; server-rendered pages keep to plain text.
"""

from __future__ import annotations

import json
import string
from enum import Enum
from pathlib import Path


class Language(str, Enum):
    """A language kehu's pages are written in (a BCP 47 tag)."""

    ZH_CN = "zh-CN"
    EN = "en"


LANGUAGES: tuple[str, ...] = tuple(language.value for language in Language)
DEFAULT_LANGUAGE = Language.EN.value

Catalogues = dict[str, dict[str, str]]  # language -> key -> text


def read_catalogues(directory: str | Path) -> Catalogues:
    """Every ``<language>.json`` of ``directory`` for the languages kehu speaks.

    A language without a file gets an empty catalogue (``missing_keys`` reports
    it); a file that is not a flat object of strings is refused here, at start-up.
    """
    out: Catalogues = {}
    for language in LANGUAGES:
        path = Path(directory) / f"{language}.json"
        entries = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        if not isinstance(entries, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in entries.items()
        ):
            raise ValueError(f"{path}: a message catalogue is one JSON object of strings")
        out[language] = entries
    return out


def missing_keys(catalogues: Catalogues) -> dict[str, list[str]]:
    """Per language, the keys some other language has and it lacks (sorted);
    languages lacking nothing are left out."""
    every = set().union(*(set(c) for c in catalogues.values())) if catalogues else set()
    out = {}
    for language in LANGUAGES:
        lacking = sorted(every - set(catalogues.get(language, {})))
        if lacking:
            out[language] = lacking
    return out


def placeholders(text: str) -> set[str]:
    """The ``{name}`` placeholders of a catalogue text."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def best_language(accept_language: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The language kehu speaks that an ``Accept-Language`` header prefers most.

    ``zh``, ``zh-CN``, ``zh-Hans`` and ``zh-SG`` mean Simplified Chinese; any
    ``en-*`` means English. Traditional Chinese (``zh-TW``, ``zh-HK``, ``zh-Hant``)
    is not Simplified, so it falls through to the next preference.
    """
    choices = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = _supported(tag.strip())
        if language is not None and quality > 0:
            choices.append((-quality, position, language))
    return min(choices)[2] if choices else default


def _supported(tag: str) -> str | None:
    parts = tag.lower().replace("_", "-").split("-")
    if parts[0] == "en":
        return Language.EN.value
    if parts[0] == "zh" and not {"tw", "hk", "mo", "hant"} & set(parts[1:]):
        return Language.ZH_CN.value
    return None


class Messages:
    """One language's texts with the fallbacks a page needs: a key missing in the
    language is taken from English, and one missing everywhere is shown as the key
    itself (visible, never a crash)."""

    def __init__(self, catalogues: Catalogues, language: str):
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._texts = {**catalogues.get(DEFAULT_LANGUAGE, {}), **catalogues.get(self.language, {})}

    def __call__(self, key: str, **params: object) -> str:
        text = self._texts.get(key, key)
        return text.format_map(_Keep(params)) if params else text


class _Keep(dict):
    """``format_map`` mapping that leaves unknown ``{placeholders}`` as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
