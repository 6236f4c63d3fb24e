"""kehu.matching: the keys customers are matched by, names in pinyin, and the
score of a pair — no database."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kehu import matching
from kehu.matching import Profile, Reason, compare, customer_keys, email_key, name_agreement, phone_key, romanize

# --------------------------------------------------------------------------- keys


def test_email_key_is_trimmed_and_case_folded_whatever_the_width():
    assert email_key("  ZhangWei@QQ.com ") == "zhangwei@qq.com"
    assert email_key("ｚｗ＠ｑｑ．ｃｏｍ") == "zw@qq.com"  # full-width, as typed with a Chinese IME
    assert email_key("") is None and email_key(None) is None


@pytest.mark.parametrize(
    "written",
    ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "+86-138-1234-5678", "0086 13812345678",
     "(+86) 138 1234 5678", "+8613812345678", "１３８１２３４５６７８"],
)  # fmt: skip
def test_a_phone_number_written_any_common_way_is_one_key(written):
    assert phone_key(written, "CN") == "+8613812345678"


def test_phone_keys_follow_the_default_region():
    assert phone_key("010-8765 4321", "CN") == "+861087654321"  # the trunk 0 goes
    assert phone_key("020 7946 0958", "GB") == "+442079460958"
    assert phone_key("+44 20 7946 0958", "CN") == "+442079460958"  # a country code wins
    assert phone_key("12", "CN") == "12"  # not a number the library can place: its digits


@settings(max_examples=300, deadline=None)
@given(
    region=st.sampled_from(["CN", "GB", "US", "DE", "SG", "HK"]),
    plus=st.booleans(),
    digits=st.text(alphabet="0123456789", min_size=4, max_size=15),
    separator=st.sampled_from(["", " ", "-", "."]),
)
def test_the_fast_path_agrees_with_the_phone_library(region, plus, digits, separator):
    text = ("+" if plus else "") + separator.join([digits[:3], digits[3:7], digits[7:]]).strip(separator)
    # Twice: the first of a shape is parsed, the second follows the rule it left.
    assert phone_key(text, region) == matching._parse_phone(text, region)[0]
    assert phone_key(text, region) == matching._parse_phone(text, region)[0]


def test_pinyin_reads_names_as_names():
    assert romanize("张伟") == ("zhang", "wei")
    assert romanize("单雄信") == ("shan", "xiong", "xin")  # 单 as a surname is Shan, not dan
    assert romanize("曾小贤") == ("zeng", "xiao", "xian")
    assert romanize("尉迟恭") == ("yu", "chi", "gong")
    assert romanize("吕布") == ("lv", "bu")
    assert romanize("José Müller") == ("jose", "muller")
    assert matching.region_key("重庆市") == matching.region_key("Chongqing") == "chongqing"


def test_customer_keys_meet_across_hanzi_and_pinyin():
    hanzi = customer_keys("张伟", " ZhangWei@QQ.com", "+86 138-1234-5678", "CN")
    latin = customer_keys("Zhang  Wei", "zhangwei@qq.com", "13812345678", "CN")
    assert (hanzi.email_key, hanzi.phone_key, hanzi.name_pinyin) == (latin.email_key, latin.phone_key, "zhangwei")
    assert hanzi.name_initials == latin.name_initials == "zw"
    assert hanzi.name_key == "张伟" and latin.name_key == "zhang wei"


def test_search_terms_in_pinyin():
    assert matching.search_term_pinyin("Zhang Wei") == "zhangwei"
    assert matching.search_term_pinyin("  zw ") == "zw"
    assert matching.search_term_pinyin("!!") is None


# --------------------------------------------------------------------------- comparing


def profile(pk, name, **fields):
    return Profile.of(pk, name=name, phone_region="CN", **fields)


def score(a, b, others=0):
    """The score of ``a`` and ``b`` in a base of ``others`` more customers."""
    freq = matching.Frequencies.of([a, b], total=2 + others)
    return compare(a, b, freq)


def test_name_agreement_knows_hanzi_pinyin_and_typos():
    zhang = profile(1, "张伟")
    assert name_agreement(zhang, profile(2, "Zhang Wei")) == "same"
    assert name_agreement(zhang, profile(2, "WEI Zhang")) == "same"
    assert name_agreement(zhang, profile(2, "zhangwei")) == "same"
    assert name_agreement(zhang, profile(2, "张玮")) == "homophone"
    assert name_agreement(zhang, profile(2, "Zhang Wie")) == "typo"
    assert name_agreement(profile(1, "Wang Wei"), profile(2, "Wang Fei")) == "different"  # two real names
    assert name_agreement(zhang, profile(2, "伟张")) == "different"  # hanzi order matters
    assert name_agreement(profile(1, "Jonathan Whitfield"), profile(2, "Jonathon Whitfield")) == "typo"


def test_the_same_person_from_two_channels_is_a_candidate_with_reasons():
    a = profile(1, "张伟", email="zhangwei88@qq.com", region="上海")
    b = profile(2, "Zhang Wei", email="ZhangWei88@QQ.com", phone="138 1234 5678", region="Shanghai")
    result, reasons = score(a, b, others=100_000)
    assert result >= 95
    assert set(reasons) == {Reason.SAME_NAME_PINYIN, Reason.SAME_EMAIL, Reason.SAME_REGION}


def test_namesakes_are_not_candidates_by_name_alone():
    a = profile(1, "张伟", region="上海", email="a1@qq.com")
    b = profile(2, "张伟", region="上海", email="b2@163.com")
    freq = matching.Frequencies.of([a, b], total=100_000)
    freq.names[a.compact] = 300  # as common as 张伟 is
    assert compare(a, b, freq)[0] < matching.CANDIDATE_SCORE


def test_a_household_sharing_a_phone_is_not_one_customer():
    a = profile(1, "王丽", phone="13812345678", address="上海市人民路100号", region="上海")
    b = profile(2, "王建国", phone="138 1234 5678", address="上海市人民路100号", region="上海")
    assert score(a, b, others=100_000)[0] < matching.CANDIDATE_SCORE


def test_a_typo_in_the_phone_with_the_same_name_is_a_candidate():
    a = profile(1, "Qiu Zhenyuan", phone="13812345678", region="Beijing")
    b = profile(2, "邱振远", phone="13812345687", region="北京")
    result, reasons = score(a, b, others=100_000)
    assert result >= matching.CANDIDATE_SCORE and Reason.SIMILAR_PHONE in reasons


def test_blocking_keys_bring_one_edit_apart_values_together():
    a = profile(1, "Zhang Wei", email="zhangwei88@qq.com", phone="13812345678")
    b = profile(2, "Zhang Wie", email="zhangwie88@qq.com", phone="13812345687")
    shared = set(a.blocks()) & set(b.blocks())
    assert {k[:2] for k in shared} >= {"n~", "e~", "p~"}
