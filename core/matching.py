"""Who is who: the normalised keys customers are matched by, names in pinyin, and
how alike two customers are.

No database here: ``kehu.duplicates`` stores and looks up what this computes.

* **Keys** (``customer_keys``): the e-mail trimmed and case-folded; the phone
  number parsed to E.164 with a default region (``[kehu] phone_region``, e.g.
  ``CN``: ``138 1234 5678``, ``+86 138-1234-5678`` and ``0086 13812345678`` are
  one key); the name Unicode-normalised (NFKC), case-folded, whitespace collapsed;
  and the name in pinyin, written together and as initials (张伟: ``zhangwei``,
  ``zw``). Latin names romanise to themselves (``Zhang Wei``: ``zhangwei``), so a
  name written in hanzi and in pinyin meets on one key.
* **Profiles** (``Profile``): what the duplicate scan compares, computed once per
  customer, with the blocking keys (``Profile.blocks``) that decide which pairs
  are compared at all: the exact keys, and every variant with one character left
  out (a one-letter typo, a swapped pair of letters or a missing digit leaves
  one such variant in common).
* **Score** (``compare``): evidence for and against "the same customer" from the
  name (weighted by how rare it is: two "Zhang Wei" say little, two "Qiu
  Zhenyuan" much), e-mail, phone, region, address and kind, added as log-odds
  in the manner of Fellegi and Sunter's record linkage. A pair scores 0–100;
  ``CANDIDATE_SCORE`` and above is a candidate.

Pinyin comes from pypinyin's per-character reading table, read directly (its
converter costs ~130 µs a name and its phrase dictionary ~40 MB of memory;
the table lookup costs ~5 µs and ~10 MB). The first reading of a character is
used, except for surnames with a reading of their own (单 Shan, 曾 Zeng).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

DEFAULT_PHONE_REGION = "CN"

# A pair scoring this (the probability, in per cent, that the two are one
# customer: see ``evidence``) or more is a candidate.
CANDIDATE_SCORE = 50

_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


# --------------------------------------------------------------------------- keys


def _nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value)


def email_key(value: str | None) -> str | None:
    """An e-mail address as duplicates are matched: NFKC, trimmed, case-folded."""
    if not value:
        return None
    key = _nfkc(value).strip().casefold()
    return key or None


def phone_key(value: str | None, region: str | None = DEFAULT_PHONE_REGION) -> str | None:
    """A phone number in E.164 (``+8613812345678``), read in ``region`` when it
    has no country code; a number the library cannot place keeps its digits
    (and a leading ``+``), so it still matches itself written another way."""
    if not value:
        return None
    text = _nfkc(value).strip()
    if not text:
        return None
    plain = _PHONE_SEPARATORS.sub("", text)
    if not _PLAIN_PHONE.match(plain):
        return _parse_phone(text, region)[0]
    # Parsing costs ~60 µs a number, which an import of a million customers would
    # feel. Numbers of one shape (region, written with "+" or not, first five
    # digits, length) are read alike by the library — the same country code and
    # the same trailing digits as the national number — so the first of each
    # shape is parsed and the rule it followed serves the rest.
    plus = plain.startswith("+")
    digits = plain[1:] if plus else plain
    shape = (region, plus, digits[:5], len(digits))
    rule = _phone_shapes.get(shape)
    if rule is None:
        key, country = _parse_phone(text, region)
        if len(_phone_shapes) > 50_000:
            _phone_shapes.clear()
        rule = _phone_shapes[shape] = _phone_rule(key, country, digits, plus)
    if rule is _SLOW:
        return _parse_phone(text, region)[0]
    if rule is _RAW:
        return ("+" if plus else "") + digits
    country, length = rule
    return f"+{country}{digits[-length:]}"


_PHONE_SEPARATORS = re.compile(r"[\s\-.()/]")
_PLAIN_PHONE = re.compile(r"^\+?[0-9]{3,20}$")
_SLOW, _RAW = object(), object()
_phone_shapes: dict[tuple, Any] = {}


def _parse_phone(text: str, region: str | None) -> tuple[str | None, str | None]:
    """``phone_key`` through the library: (key, country calling code or None)."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), str(number.country_code)
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits:
        return None, None
    return ("+" if text.startswith("+") else "") + digits, None


def _phone_rule(key: str | None, country: str | None, digits: str, plus: bool) -> Any:
    if key == ("+" if plus else "") + digits and country is None:
        return _RAW
    if key is None or country is None:
        return _SLOW
    length = len(key) - 1 - len(country)
    if 0 < length <= len(digits) and key[1 + len(country) :] == digits[-length:]:
        return (country, length)
    return _SLOW


def phone_region_valid(region: str) -> bool:
    """Whether ``region`` is a region code the phone library knows (``CN``, ``GB``)."""
    import phonenumbers

    return region in phonenumbers.SUPPORTED_REGIONS


def name_key(value: str | None) -> str | None:
    """A name Unicode-normalised (NFKC), case-folded, with single spaces."""
    if not value:
        return None
    key = _SPACES.sub(" ", _nfkc(value).casefold()).strip()
    return key or None


# --------------------------------------------------------------------------- pinyin

# Surnames read otherwise than their characters' first reading (单 is dān in
# 简单, Shàn as a name). Compound surnames are spelled out where a character
# differs in them.
SURNAME_READINGS = {
    "单": "shan", "曾": "zeng", "解": "xie", "仇": "qiu", "区": "ou", "朴": "piao", "查": "zha",
    "盖": "ge", "覃": "qin", "乐": "yue", "缪": "miao", "翟": "zhai", "召": "shao", "秘": "bi",
    "种": "chong", "折": "she", "员": "yun", "祭": "zhai", "句": "gou", "宓": "fu", "繁": "po",
    "尉": "yu", "薄": "bo", "卜": "bu", "藏": "zang", "长": "chang", "重": "chong", "都": "du",
    "过": "guo", "炅": "gui", "隗": "wei", "阚": "kan", "洗": "xian", "朝": "chao", "莘": "shen",
    "蕃": "pi", "粘": "nian",
}  # fmt: skip
COMPOUND_SURNAMES = {"万俟": ("mo", "qi"), "尉迟": ("yu", "chi"), "长孙": ("zhang", "sun")}


_HAN_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_HAN = re.compile(f"[{_HAN_RANGES}]")
# A hanzi, or a run of other letters and digits.
_ROMAN_TOKEN = re.compile(f"([{_HAN_RANGES}])|([^\\W_{_HAN_RANGES}]+)")


def has_han(text: str | None) -> bool:
    """Whether ``text`` holds a Chinese character."""
    return text is not None and _HAN.search(text) is not None


def _toneless(reading: str) -> str:
    decomposed = unicodedata.normalize("NFD", reading).replace("u\u0308", "v")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


@functools.cache
def _readings() -> dict[int, str]:
    """Code point -> first reading without tone marks, from pypinyin's table.

    Read from the package's data file without importing the package (which
    loads its phrase dictionary too); through its public module otherwise."""
    table: dict[Any, str]
    spec = importlib.util.find_spec("pypinyin")
    path = (
        Path(spec.submodule_search_locations[0]) / "pinyin_dict.json"
        if spec and spec.submodule_search_locations
        else None
    )
    if path is not None and path.is_file():
        table = json.loads(path.read_text(encoding="utf-8"))
    else:  # pragma: no cover - a pypinyin without its JSON table
        from pypinyin.pinyin_dict import pinyin_dict as table
    toneless = functools.cache(_toneless)  # ~42,000 characters share ~1,500 readings
    return {int(code): toneless(readings.split(",", 1)[0]) for code, readings in table.items()}


@functools.cache
def pinyin_syllables() -> frozenset[str]:
    """Every toneless pinyin syllable (``zhang``, ``lv``): a Latin token outside
    this set is not pinyin — in a Chinese name, most likely a typo."""
    return frozenset(_readings().values())


def _latin(word: str) -> str:
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@functools.lru_cache(maxsize=65536)
def romanize(text: str | None, *, surname: bool = True) -> tuple[str, ...]:
    """The words of ``text`` in Latin letters, lower case: each hanzi becomes its
    pinyin syllable (张伟 -> ``zhang``, ``wei``), other words lose accents
    (``José`` -> ``jose``). With ``surname``, a name's first character is read as
    a surname (单 -> ``shan``)."""
    if not text:
        return ()
    text = _nfkc(text)
    if _HAN.search(text) is None:
        return tuple(t for t in (_latin(w) for w in _WORD.findall(text)) if t)
    readings = _readings()
    tokens: list[str] = []
    parts = _ROMAN_TOKEN.findall(text)
    i = 0
    while i < len(parts):
        han, other = parts[i]
        i += 1
        if other:
            tokens.append(_latin(other))
            continue
        if surname and not tokens:
            pair = han + parts[i][0] if i < len(parts) else ""
            if pair in COMPOUND_SURNAMES:
                tokens.extend(COMPOUND_SURNAMES[pair])
                i += 1
                continue
            reading = SURNAME_READINGS.get(han)
            if reading is not None:
                tokens.append(reading)
                continue
        tokens.append(readings.get(ord(han), han))
    return tuple(t for t in tokens if t)


def name_pinyin(name: str | None) -> str:
    """A name romanised and written together: 张伟 and ``Zhang Wei`` -> ``zhangwei``."""
    return "".join(romanize(name))


def name_initials(name: str | None) -> str:
    """The first letter of each romanised word: 张伟 -> ``zw``."""
    return "".join(token[0] for token in romanize(name))


def search_term_pinyin(term: str) -> str | None:
    """A search term as it may appear in ``name_pinyin``: letters only, spaces
    dropped (``Zhang Wei`` -> ``zhangwei``); ``None`` when it has no letters."""
    compact = "".join(romanize(term, surname=False))
    return compact if compact and compact.isalnum() else None


@dataclass(frozen=True)
class CustomerKeys:
    """The normalised keys stored with a customer (see the module docstring)."""

    email_key: str | None
    phone_key: str | None
    name_key: str | None
    name_pinyin: str
    name_initials: str

    COLUMNS = ("email_key", "phone_key", "name_key", "name_pinyin", "name_initials")

    def values(self) -> dict[str, str | None]:
        return {c: getattr(self, c) for c in self.COLUMNS}


def customer_keys(
    name: str | None, email: str | None, phone: str | None, region: str | None = DEFAULT_PHONE_REGION
) -> CustomerKeys:
    """The normalised keys of a customer with this name, e-mail and phone (a
    phone without a country code read in ``region``), as clear values;
    ``kehu.duplicates.stored_keys`` gives what is stored."""
    tokens = romanize(name)
    return CustomerKeys(
        email_key=email_key(email),
        phone_key=phone_key(phone, region),
        name_key=name_key(name),
        name_pinyin="".join(tokens),
        name_initials="".join(t[0] for t in tokens),
    )


def name_orders(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """The ways a name may be written together: as given, family name last or
    first (张伟, ``Wei Zhang``, ``ZHANG Wei``), and its words sorted."""
    if len(tokens) < 2:
        return ("".join(tokens),) if tokens else ()
    forms = {
        "".join(tokens),
        "".join(tokens[1:] + tokens[:1]),
        "".join(tokens[-1:] + tokens[:-1]),
        "".join(sorted(tokens)),
    }
    return tuple(sorted(forms))


# --------------------------------------------------------------------------- profiles

# Words that say what kind of organisation it is, not which one.
ORGANISATION_WORDS = frozenset(
    """co company corp corporation inc incorporated ltd limited llc plc gmbh ag sa sarl bv oy ab kk group holdings
    you xian gong si ze ren gu fen ji tuan""".split()
)
_ORGANISATION_HAN = re.compile("(有限责任公司|股份有限公司|有限公司|集团|公司|股份)$")
_REGION_HAN = re.compile("(特别行政区|自治区|省|市|区|县)$")
_REGION_WORDS = frozenset("province city municipality county district state region sheng shi".split())
_NOT_ADDRESS = re.compile(r"[\W_]+", re.UNICODE)
_DIGITS = re.compile(r"[0-9]+")


# Places whose characters are read otherwise in their name (重 is zhòng in 重要,
# chóng in 重庆): the table of single characters would spell them wrong.
PLACE_READINGS = {
    "重庆": "chongqing", "长沙": "changsha", "长春": "changchun", "长治": "changzhi", "厦门": "xiamen",
    "蚌埠": "bengbu", "六安": "luan", "乐山": "leshan", "丽水": "lishui", "丽江": "lijiang", "朝阳": "chaoyang",
    "番禺": "panyu", "东莞": "dongguan", "莘县": "shenxian", "铅山": "yanshan", "台州": "taizhou", "单县": "shanxian",
    "陕西": "shaanxi",
}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def region_key(region: str | None) -> str | None:
    """A region as it is compared: 北京市, 北京 and ``Beijing`` are ``beijing``."""
    if not region:
        return None
    text = _REGION_HAN.sub("", _nfkc(region).strip())
    if text in PLACE_READINGS:
        return PLACE_READINGS[text]
    tokens = [t for t in romanize(text, surname=False) if t not in _REGION_WORDS]
    return "".join(tokens) or None


def address_key(address: str | None) -> str | None:
    """An address as it is compared: NFKC, case-folded, without spaces or punctuation."""
    if not address:
        return None
    return _NOT_ADDRESS.sub("", _nfkc(address).casefold()) or None


@dataclass
class Profile:
    """A customer as duplicates are looked for: ``Profile.of`` normalises once."""

    id: int
    kind: str = "PERSON"
    tokens: tuple[str, ...] = ()  # the name romanised (organisations: without Ltd, 有限公司 …)
    orders: tuple[str, ...] = ()  # ways of writing the name together (name_orders)
    compact: str = ""  # the name's words, sorted and written together: its frequency key
    han: str = ""  # the hanzi of the name, if any
    pinyin: bool = False  # every word of the name is a pinyin syllable
    email: str | None = None
    phone: str | None = None
    region: str | None = None
    address: str | None = None
    company: str | None = None
    owner_id: int | None = None

    @classmethod
    def of(
        cls,
        id: int,
        *,
        name: str | None,
        kind: str = "PERSON",
        email: str | None = None,
        phone: str | None = None,
        region: str | None = None,
        address: str | None = None,
        company: str | None = None,
        owner_id: int | None = None,
        phone_region: str | None = DEFAULT_PHONE_REGION,
    ) -> Profile:
        text = name or ""
        if kind == "ORGANIZATION":
            text = _ORGANISATION_HAN.sub("", _nfkc(text).strip())
            tokens = romanize(text)
            tokens = tuple(t for t in tokens if t not in ORGANISATION_WORDS) or tokens
        else:
            tokens = romanize(text)
        syllables = pinyin_syllables() if tokens else ()
        return cls(
            id=id,
            kind=kind,
            tokens=tokens,
            orders=name_orders(tokens),
            compact="".join(sorted(tokens)),
            han="".join(_HAN.findall(text)),
            pinyin=bool(tokens) and all(t in syllables for t in tokens),
            email=email_key(email),
            phone=phone_key(phone, phone_region),
            region=region_key(region),
            address=address_key(address),
            company=("".join(romanize(company, surname=False)) or None) if company else None,
            owner_id=owner_id,
        )

    def blocks(self) -> list[str]:
        """The blocking keys: customers that share none are never compared. The
        first character names the family: ``n`` name, ``e`` e-mail, ``p`` phone;
        the second ``:`` for the value, ``~`` for a variant one character
        shorter (``BLOCK_FAMILIES``). A key may repeat."""
        keys = ["n:" + form for form in self.orders]
        compact = self.compact
        if 3 <= len(compact) <= 40:
            keys += ["n~" + compact[:i] + compact[i + 1 :] for i in range(len(compact))]
        if self.email:
            email = self.email
            keys.append("e:" + email)
            keys += ["e~" + email[:i] + email[i + 1 :] for i in range(len(email))]
        if self.phone:
            digits = self.phone.lstrip("+")
            keys.append("p:" + digits)
            tail = digits[-11:]
            keys += ["p~" + tail[:i] + tail[i + 1 :] for i in range(len(tail))]
        return keys


BLOCK_FAMILIES = ("n:", "n~", "e:", "e~", "p:", "p~")


# --------------------------------------------------------------------------- comparing


class Reason(str, Enum):
    """Why two customers look like one."""

    SAME_EMAIL = "SAME_EMAIL"
    SIMILAR_EMAIL = "SIMILAR_EMAIL"
    SAME_PHONE = "SAME_PHONE"
    SIMILAR_PHONE = "SIMILAR_PHONE"
    SAME_NAME = "SAME_NAME"
    SAME_NAME_PINYIN = "SAME_NAME_PINYIN"
    SIMILAR_NAME = "SIMILAR_NAME"
    SAME_REGION = "SAME_REGION"
    SAME_ADDRESS = "SAME_ADDRESS"
    SAME_COMPANY = "SAME_COMPANY"


@dataclass
class Frequencies:
    """How many customers share each value: agreeing on a value common in the
    base (a frequent name, a busy region) is weak evidence, on a rare one strong."""

    total: int = 0
    names: dict[str, int] = field(default_factory=dict)
    emails: dict[str, int] = field(default_factory=dict)
    phones: dict[str, int] = field(default_factory=dict)
    regions: dict[str, int] = field(default_factory=dict)
    addresses: dict[str, int] = field(default_factory=dict)
    companies: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, profiles: Iterable[Profile], total: int | None = None) -> Frequencies:
        """Counted over ``profiles``; ``total`` is the size of the whole base when
        the profiles are a part of it (the candidates of one customer)."""
        out = cls()
        for p in profiles:
            out.add(p)
        if total is not None:
            out.total = max(out.total, total)
        return out

    def add(self, p: Profile) -> None:
        self.total += 1
        for table, value in (
            (self.names, p.compact),
            (self.emails, p.email),
            (self.phones, p.phone),
            (self.regions, p.region),
            (self.addresses, p.address),
            (self.companies, p.company),
        ):
            if value:
                table[value] = table.get(value, 0) + 1


# The model (Fellegi and Sunter's): each field that agrees or disagrees adds
# log2(m / u), m being how often it does so between two records of one customer,
# u between two records of different customers; the prior is the share of pairs
# that are duplicates, 2 x DUPLICATE_RATE / N among N customers. The m values are
# what other channels do to a record (names re-typed in pinyin or with a typo,
# contact details dropped), the u values come from the base itself (how many
# customers share the value) with a floor for what strangers share (a household's
# landline, a family inbox). Evidence >= 0: more likely one customer than two.
DUPLICATE_RATE = 0.02
SHARED_EMAIL = 0.005  # people who share an inbox with someone else
SHARED_PHONE = 0.01  # ... a phone (a household's landline, a front desk)
SHARED_ADDRESS = 0.02  # ... an address
REGIONS = 30  # agreeing on a region is worth at most what one of this many would be
# The rates above are estimates over a base; a smaller one is scored as a base of
# this size (two customers alone do not make every coincidence a duplicate).
MIN_BASE = 1000


def _log2(x: float) -> float:
    return math.log2(max(x, 1e-300))


def _osa(a: str, b: str, cutoff: int) -> int:
    from rapidfuzz.distance import OSA

    return OSA.distance(a, b, score_cutoff=cutoff)


def name_agreement(a: Profile, b: Profile) -> str | None:
    """How two names agree: ``same`` (also across hanzi and pinyin and word
    order), ``homophone`` (张伟 / 张玮), ``typo``, ``partial``, ``different``;
    ``None`` when one has no name."""
    if not a.tokens or not b.tokens:
        return None
    if a.han and b.han:
        # Both in hanzi: the characters in their order (张伟 and 伟张 are two people).
        if a.han == b.han and a.compact == b.compact:
            return "same"
        if a.tokens == b.tokens:
            return "homophone"
        if min(len(a.han), len(b.han)) >= 4 and _osa(a.han, b.han, 1) <= 1:
            return "typo"  # a character missing or wrong in a company's name
        return "different"
    if a.compact == b.compact or not set(a.orders).isdisjoint(b.orders):
        return "same"
    if a.pinyin and b.pinyin and not (a.han or b.han):
        # Two names both written in pinyin are two names, however alike (Wang
        # Wei, Wang Fei): a typo leaves a word that is no syllable. Against a
        # name in hanzi, a typo may well make another syllable (Li Xia, La Xia).
        return "different"
    edits = 2 if min(len(a.compact), len(b.compact)) > 12 else 1
    if min(_osa(x, y, edits) for x in a.orders for y in b.orders) <= edits:
        return "typo"
    if not (a.pinyin or b.pinyin):
        from rapidfuzz import fuzz

        if fuzz.token_sort_ratio(" ".join(a.tokens), " ".join(b.tokens)) >= 85:
            return "partial"
    return "different"


def _email_edit_is_weak(a: str, b: str) -> bool:
    """A digit changed, added or dropped in a short number (mary.j74@ /
    mary.j75@) is as often a namesake's address as a typo; a changed letter, or
    a digit in a long number (a QQ number), is a typo."""
    p = 0
    while p < min(len(a), len(b)) and a[p] == b[p]:
        p += 1
    longer = a if len(a) >= len(b) else b
    if len(a) != len(b):
        changed = [longer[p]]  # the one added or dropped
    else:
        changed = [a[p], b[p]]  # changed, or the first of two swapped
    if not all(ch.isdigit() for ch in changed):
        return False
    start = end = p
    while start > 0 and longer[start - 1].isdigit():
        start -= 1
    while end < len(longer) and longer[end].isdigit():
        end += 1
    return end - start <= 4


def compare(a: Profile, b: Profile, freq: Frequencies) -> tuple[int, list[Reason]]:
    """How likely ``a`` and ``b`` are one customer: a score 0–100
    (``CANDIDATE_SCORE`` and above: a candidate) and the reasons."""
    total, reasons = evidence(a, b, freq)
    return score_of(total), reasons


def score_of(weight: float) -> int:
    """log2-odds to a 0–100 score: the probability of one customer, in per cent."""
    return round(100 / (1 + 2 ** (-max(min(weight, 60), -60))))


def evidence(a: Profile, b: Profile, freq: Frequencies) -> tuple[float, list[Reason]]:
    """The log2-odds that ``a`` and ``b`` are one customer, and the reasons."""
    n = max(freq.total, MIN_BASE)
    total = _log2(2 * DUPLICATE_RATE / n)
    reasons: list[Reason] = []
    agreement = name_agreement(a, b)
    if agreement in ("same", "homophone", "typo"):
        count = max(freq.names.get(a.compact, 1), freq.names.get(b.compact, 1))
        namesakes = max(1, count - 1) / n
        if agreement == "typo":
            total += _log2(0.15 / (4 * namesakes))
            reasons.append(Reason.SIMILAR_NAME)
        else:
            total += _log2(0.75 / namesakes) - (3 if agreement == "homophone" else 0)
            reasons.append(Reason.SAME_NAME if bool(a.han) == bool(b.han) else Reason.SAME_NAME_PINYIN)
    elif agreement == "different":
        total += _log2(0.005 / 0.99)
    if a.email and b.email:
        if a.email == b.email:
            total += _log2(0.6 * n / max(SHARED_EMAIL, freq.emails.get(a.email, 2) - 2))
            reasons.append(Reason.SAME_EMAIL)
        elif _osa(a.email, b.email, 1) <= 1:
            total += _log2(0.15 / (0.03 if _email_edit_is_weak(a.email, b.email) else 1e-6))
            reasons.append(Reason.SIMILAR_EMAIL)
        else:
            total += _log2(0.2 / 0.99)
    phone_weight = None
    if a.phone and b.phone:
        if a.phone == b.phone:
            phone_weight = _log2(0.6 * n / max(SHARED_PHONE, freq.phones.get(a.phone, 2) - 2))
            reasons.append(Reason.SAME_PHONE)
        elif len(a.phone) == len(b.phone) and _osa(a.phone, b.phone, 1) <= 1:
            total += _log2(0.1 / 1e-6)
            reasons.append(Reason.SIMILAR_PHONE)
        else:
            total += _log2(0.15 / 0.99)
    address_weight = None
    if a.address and b.address:
        if a.address == b.address or (
            _DIGITS.findall(a.address) == _DIGITS.findall(b.address)
            and _osa(a.address, b.address, 2) <= (1 if min(len(a.address), len(b.address)) < 20 else 2)
        ):
            count = max(freq.addresses.get(a.address, 2), freq.addresses.get(b.address, 2))
            address_weight = _log2(0.5 * n / max(SHARED_ADDRESS, count - 2))
            reasons.append(Reason.SAME_ADDRESS)
        else:
            total += _log2(0.4 / 0.95)
    # A shared phone and a shared address are one fact about a household, not two.
    if phone_weight is not None and address_weight is not None:
        total += max(phone_weight, address_weight) + 1
    else:
        total += phone_weight if phone_weight is not None else address_weight or 0.0
    if a.region and b.region:
        if a.region == b.region:
            # Regions are coarse: even a rare one is one of a few dozen.
            total += _log2(0.8 * n / max(freq.regions.get(a.region, n), n / REGIONS))
            reasons.append(Reason.SAME_REGION)
        else:
            total += _log2(0.05 / 0.9)
    if a.company and b.company and a.kind == b.kind == "PERSON":
        if a.company == b.company:
            total += min(6.0, _log2(0.5 * n / freq.companies.get(a.company, n)))
            reasons.append(Reason.SAME_COMPANY)
        else:
            total += _log2(0.4 / 0.9)
    if a.kind != b.kind:
        total += _log2(0.02 / 0.3)
    return total, reasons
