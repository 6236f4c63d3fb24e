"""A customer base with planted duplicates, for measuring ``kehu dedupe scan``.

``generate(customers, duplicates, seed)`` returns the rows of a customer import
file (kehu's import columns) and the truth: which rows are records of the same
customer. Deterministic for a seed.

The base looks like a Chinese company's customers: 70 % Chinese persons (names in
hanzi, surnames and given names drawn by real frequency, so namesakes are as
common as in life: a hundred thousand customers hold dozens of 张伟), 15 % Western
persons, 15 % organisations; phone numbers written the ways staff type them;
e-mail at QQ, 163 and company domains; regions in hanzi or pinyin. Some households
share a landline and an address: different people, not duplicates.

A planted duplicate is a second record of an existing customer, as it arrives
from another channel: the name in pinyin instead of hanzi (``Zhang Wei``,
``ZHANG Wei``, ``Wei Zhang``, ``zhangwei``), with a typo, or a homophone (张伟 /
张玮); the e-mail in other letter case, with a typo, or missing; the phone in
another format (``+86 138-1234-5678``, ``0086…``), with a digit wrong or two
swapped, or missing; the region written another way (上海 / 上海市 / Shanghai)
or missing. Every planted duplicate keeps one contact detail (e-mail or phone)
as it was, up to case and format, or keeps its name and has a typo in one: a
record that shares nothing exact is not one a person could call a duplicate
either.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

SEED = 20261201

# (hanzi, pinyin, share in per mille of the population; after the 2020 census)
SURNAMES = [
    ("王", "Wang", 71), ("李", "Li", 70), ("张", "Zhang", 67), ("刘", "Liu", 54), ("陈", "Chen", 45),
    ("杨", "Yang", 31), ("黄", "Huang", 22), ("赵", "Zhao", 20), ("吴", "Wu", 20), ("周", "Zhou", 19),
    ("徐", "Xu", 13), ("孙", "Sun", 13), ("马", "Ma", 12), ("朱", "Zhu", 12), ("胡", "Hu", 11),
    ("郭", "Guo", 10), ("何", "He", 10), ("高", "Gao", 9), ("林", "Lin", 9), ("罗", "Luo", 9),
    ("郑", "Zheng", 8), ("梁", "Liang", 8), ("谢", "Xie", 6), ("宋", "Song", 5), ("唐", "Tang", 5),
    ("许", "Xu", 5), ("韩", "Han", 5), ("冯", "Feng", 5), ("邓", "Deng", 5), ("曹", "Cao", 5),
    ("彭", "Peng", 4), ("曾", "Zeng", 4), ("肖", "Xiao", 4), ("田", "Tian", 4), ("董", "Dong", 4),
    ("袁", "Yuan", 4), ("潘", "Pan", 3), ("于", "Yu", 3), ("蒋", "Jiang", 3), ("蔡", "Cai", 3),
    ("余", "Yu", 3), ("杜", "Du", 3), ("叶", "Ye", 3), ("程", "Cheng", 3), ("苏", "Su", 3),
    ("魏", "Wei", 3), ("吕", "Lv", 3), ("丁", "Ding", 3), ("任", "Ren", 3), ("沈", "Shen", 3),
    ("姚", "Yao", 2), ("卢", "Lu", 2), ("姜", "Jiang", 2), ("崔", "Cui", 2), ("钟", "Zhong", 2),
    ("谭", "Tan", 2), ("陆", "Lu", 2), ("汪", "Wang", 2), ("范", "Fan", 2), ("金", "Jin", 2),
    ("石", "Shi", 2), ("廖", "Liao", 2), ("贾", "Jia", 2), ("夏", "Xia", 2), ("韦", "Wei", 2),
    ("方", "Fang", 2), ("白", "Bai", 2), ("邹", "Zou", 2), ("孟", "Meng", 2), ("熊", "Xiong", 2),
    ("秦", "Qin", 2), ("邱", "Qiu", 2), ("江", "Jiang", 2), ("尹", "Yin", 2), ("薛", "Xue", 2),
    ("段", "Duan", 2), ("雷", "Lei", 2), ("侯", "Hou", 2), ("龙", "Long", 2), ("史", "Shi", 2),
    ("欧阳", "Ouyang", 1), ("单", "Shan", 1), ("覃", "Qin", 1), ("司马", "Sima", 1), ("诸葛", "Zhuge", 1),
]  # fmt: skip
# Given-name characters (hanzi, pinyin), commonest first; drawn with Zipf weights.
GIVEN = [
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("强", "qiang"),
    ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("娟", "juan"),
    ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("秀", "xiu"), ("霞", "xia"), ("平", "ping"), ("刚", "gang"),
    ("英", "ying"), ("华", "hua"), ("玉", "yu"), ("萍", "ping"), ("红", "hong"), ("鹏", "peng"), ("飞", "fei"),
    ("文", "wen"), ("辉", "hui"), ("建", "jian"), ("国", "guo"), ("志", "zhi"), ("宇", "yu"), ("浩", "hao"),
    ("然", "ran"), ("欣", "xin"), ("怡", "yi"), ("婷", "ting"), ("雪", "xue"), ("梅", "mei"), ("琳", "lin"),
    ("晨", "chen"), ("阳", "yang"), ("俊", "jun"), ("峰", "feng"), ("斌", "bin"), ("波", "bo"), ("宁", "ning"),
    ("龙", "long"), ("海", "hai"), ("燕", "yan"), ("莉", "li"), ("凤", "feng"), ("兰", "lan"), ("云", "yun"),
    ("颖", "ying"), ("博", "bo"), ("涵", "han"), ("轩", "xuan"), ("睿", "rui"), ("子", "zi"), ("梓", "zi"),
    ("雨", "yu"), ("桐", "tong"), ("思", "si"), ("嘉", "jia"), ("佳", "jia"), ("晓", "xiao"), ("春", "chun"),
    ("新", "xin"), ("昊", "hao"), ("宏", "hong"), ("亮", "liang"), ("成", "cheng"), ("东", "dong"), ("正", "zheng"),
    ("永", "yong"), ("健", "jian"), ("卫", "wei"), ("凯", "kai"), ("倩", "qian"), ("瑶", "yao"), ("琪", "qi"),
    ("璐", "lu"), ("蕾", "lei"), ("莹", "ying"), ("晶", "jing"), ("丹", "dan"), ("青", "qing"), ("慧", "hui"),
    ("淑", "shu"), ("珍", "zhen"), ("洁", "jie"), ("妍", "yan"), ("诗", "shi"), ("语", "yu"), ("欢", "huan"),
    ("安", "an"), ("乐", "le"), ("泽", "ze"), ("铭", "ming"), ("晗", "han"), ("毅", "yi"), ("彬", "bin"),
    ("瑞", "rui"), ("翔", "xiang"), ("鑫", "xin"), ("帆", "fan"), ("旭", "xu"), ("楠", "nan"), ("蓉", "rong"),
]  # fmt: skip
# Characters that sound alike (a clerk picks the wrong one).
HOMOPHONES = [
    "伟玮炜", "丽莉俐", "明铭鸣", "静婧靖", "杰洁婕", "华桦骅", "红虹宏", "芳方舫", "敏闽珉", "军君均",
    "涛韬焘", "燕艳雁", "磊蕾", "峰锋丰", "宇雨语羽", "欣馨新", "婷庭", "琳林霖", "晨辰", "阳洋扬",
]  # fmt: skip
WESTERN_FIRST = """James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara Richard Susan
Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Margaret Mark Sandra
Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Dorothy George
Melissa Timothy Deborah Ronald Stephanie Edward Rebecca Jason Sharon Jeffrey Laura Ryan Cynthia Jacob Kathleen Gary Amy
Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry Pamela Justin Emma Scott Nicole Brandon Helen Benjamin
Samantha Samuel Katherine Gregory Christine Alexander Debra Frank Rachel Patrick Carolyn Raymond Janet Jack Catherine
Dennis Maria Jerry Heather Tyler Diane Aaron Ruth Jose Julie Adam Olivia Henry Joyce Nathan Virginia Douglas Victoria
Zachary Kelly Peter Lauren Kyle Christina Ethan Joan Walter Evelyn Noah Judith Jeremy Megan Christian Andrea Keith
Cheryl Roger Hannah Terry Jacqueline Gerald Martha Harold Gloria Sean Teresa Austin Ann Carl Sara Arthur Madison
Lawrence Frances Dylan Kathryn Jesse Janice Jordan Jean Bryan Abigail Billy Alice Joe Judy Bruce Sophia Gabriel Grace
Logan Denise Albert Amber Willie Doris Alan Marilyn Juan Danielle Wayne Beverly Elijah Isabella Randy Theresa Roy Diana
Vincent Natalie Ralph Brittany Eugene Charlotte Russell Marie Bobby Kayla Mason Alexis Philip Lori Louis Felix Clara
Max Leon Lukas Hanna Jonas Lea Finn Mia Elias Lina Paul Emilia""".split()
WESTERN_LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson
Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell
Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook
Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks
Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez
Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan
Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran
Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells
Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder
Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice
Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold
Pierce Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews
Ray Berry Perkins Hoffman Johnston Matthews Pena Richards Willis Carpenter Lawrence Sandoval Mueller Weber Schulz Becker
Fischer Schneider Wolf Schroeder Neumann Schwarz Zimmermann Braun Krueger Hofmann Hartmann Lange Werner Krause""".split()
# (hanzi, pinyin, forms people write it in besides the hanzi)
CN_REGIONS = [
    ("上海", "Shanghai", ["上海市"]), ("北京", "Beijing", ["北京市"]), ("广东", "Guangdong", ["广东省"]),
    ("浙江", "Zhejiang", ["浙江省"]), ("江苏", "Jiangsu", ["江苏省"]), ("四川", "Sichuan", ["四川省"]),
    ("湖北", "Hubei", ["湖北省"]), ("山东", "Shandong", ["山东省"]), ("福建", "Fujian", ["福建省"]),
    ("河南", "Henan", ["河南省"]), ("湖南", "Hunan", ["湖南省"]), ("天津", "Tianjin", ["天津市"]),
    ("重庆", "Chongqing", ["重庆市"]), ("陕西", "Shaanxi", ["陕西省"]), ("辽宁", "Liaoning", ["辽宁省"]),
    ("安徽", "Anhui", ["安徽省"]), ("河北", "Hebei", ["河北省"]), ("江西", "Jiangxi", ["江西省"]),
]  # fmt: skip
WEST_REGIONS = ["London", "Manchester", "Berlin", "Munich", "Hamburg", "New York", "San Francisco", "Chicago",
                "Paris", "Singapore", "Sydney", "Toronto"]  # fmt: skip
STREETS = ["人民路", "解放路", "中山路", "建设路", "和平路", "南京路", "长江路", "黄河路", "文化路", "新华路", "友谊路",
           "世纪大道", "淮海路", "延安路", "滨江大道", "科技园路"]  # fmt: skip
WEST_STREETS = ["High Street", "Station Road", "Main Street", "Park Avenue", "Church Lane", "Mill Road", "King Street",
                "Victoria Road", "Oak Avenue", "Bahnhofstraße", "Hauptstraße", "Rue de la Paix"]  # fmt: skip
BRAND_CHARS = "华信恒通瑞丰金桥海纳新元博远天成长青鼎盛嘉禾云帆宏达中安正泰永利东方远洋汇通盛世光明星辰腾飞"
CN_SECTORS = ["科技", "贸易", "物流", "餐饮", "医疗器械", "电子", "教育咨询", "服饰", "建材", "食品", "机械", "软件"]
WEST_BRANDS = """Northwind Bluewater Silverline Oakridge Brightpath Redstone Greenfield Summit Crescent Alder Beacon
Ironbridge Westgate Eastbrook Riverside Hillcrest Lakeside Stonegate Foxglove Kingfisher Maple Cedar Willow Harbor""".split()
WEST_SECTORS = ["Software", "Trading", "Logistics", "Foods", "Medical", "Electronics", "Consulting", "Retail"]
FREE_MAIL = ["qq.com", "163.com", "126.com", "sina.com", "gmail.com", "outlook.com", "hotmail.com", "foxmail.com"]


@dataclass
class DataSet:
    """The rows (kehu import columns) and the truth about them."""

    rows: list[dict] = field(default_factory=list)
    # Row index of each planted duplicate -> row index of the customer it duplicates.
    duplicate_of: dict[int, int] = field(default_factory=dict)
    # Row pairs that share a phone or address but are different people.
    households: list[tuple[int, int]] = field(default_factory=list)


def _zipf(count: int, s: float = 1.0) -> list[float]:
    return [1 / (rank**s) for rank in range(1, count + 1)]


class Generator:
    def __init__(self, seed: int = SEED):
        self.rnd = random.Random(seed)
        self.given_weights = _zipf(len(GIVEN), 0.9)
        self.surname_weights = [w for _, _, w in SURNAMES]
        self.first_weights = _zipf(len(WESTERN_FIRST), 0.7)
        self.last_weights = _zipf(len(WESTERN_LAST), 0.7)
        self.used_phones: set[str] = set()
        self.used_emails: set[str] = set()

    # -- originals ------------------------------------------------------------------

    def mobile(self) -> str:
        rnd = self.rnd
        while True:
            digits = "1" + rnd.choice("3456789") + "".join(rnd.choice("0123456789") for _ in range(9))
            if digits not in self.used_phones:
                self.used_phones.add(digits)
                return digits

    def written_mobile(self, digits: str) -> str:
        rnd = self.rnd.random()
        if rnd < 0.6:
            return digits
        if rnd < 0.85:
            return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
        if rnd < 0.95:
            return f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}"
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"

    def chinese_person(self, index: int) -> dict:
        rnd = self.rnd
        s_cn, s_py, _ = rnd.choices(SURNAMES, weights=self.surname_weights)[0]
        parts = rnd.choices(GIVEN, weights=self.given_weights, k=1 if rnd.random() < 0.4 else 2)
        name = s_cn + "".join(c for c, _ in parts)
        given_py = "".join(p for _, p in parts)
        region_cn, region_py, _ = rnd.choice(CN_REGIONS)
        style = rnd.random()
        if style < 0.35:
            email = f"{rnd.randrange(10_000_000, 3_000_000_000)}@qq.com"
        elif style < 0.7:
            email = f"{s_py.lower()}{given_py}{rnd.randrange(1, 9999)}@{rnd.choice(FREE_MAIL)}"
        else:
            email = f"{given_py}.{s_py.lower()}{rnd.randrange(10, 99999)}@{rnd.choice(FREE_MAIL)}"
        digits = self.mobile()
        return {
            "name": name,
            "kind": "PERSON",
            "email": email if rnd.random() < 0.8 else None,
            "phone": self.written_mobile(digits) if rnd.random() < 0.9 else None,
            "region": region_cn if rnd.random() < 0.85 else region_py,
            "address": f"{region_cn}{rnd.choice(STREETS)}{rnd.randrange(1, 999)}号" if rnd.random() < 0.5 else None,
            "industry": None,
            "attributes": {"company": f"{rnd.choice(BRAND_CHARS)}{rnd.choice(BRAND_CHARS)}{rnd.choice(CN_SECTORS)}"}
            if rnd.random() < 0.3
            else None,
        }

    def western_person(self, index: int) -> dict:
        rnd = self.rnd
        first = rnd.choices(WESTERN_FIRST, weights=self.first_weights)[0]
        last = rnd.choices(WESTERN_LAST, weights=self.last_weights)[0]
        region = rnd.choice(WEST_REGIONS)
        country = {"London": "44", "Manchester": "44", "Berlin": "49", "Munich": "49", "Hamburg": "49",
                   "Paris": "33", "Singapore": "65", "Sydney": "61", "Toronto": "1"}.get(region, "1")  # fmt: skip
        number = "".join(
            rnd.choice("0123456789") for _ in range(8 if country in ("65",) else 9 if country != "1" else 7)
        )
        if country == "1":
            number = rnd.choice(["212", "415", "312", "416"]) + number
        phone = f"+{country} {number[:3]} {number[3:6]} {number[6:]}"
        email = f"{first.lower()}.{last.lower()}{rnd.randrange(1, 999)}@{rnd.choice(FREE_MAIL)}"
        return {
            "name": f"{first} {last}",
            "kind": "PERSON",
            "email": email if rnd.random() < 0.85 else None,
            "phone": phone if rnd.random() < 0.8 else None,
            "region": region,
            "address": f"{rnd.randrange(1, 300)} {rnd.choice(WEST_STREETS)}, {region}" if rnd.random() < 0.5 else None,
            "industry": None,
            "attributes": None,
        }

    def organisation(self, index: int) -> dict:
        rnd = self.rnd
        if rnd.random() < 0.7:
            region_cn, region_py, _ = rnd.choice(CN_REGIONS)
            brand = "".join(rnd.sample(BRAND_CHARS, 2))
            name = f"{region_cn}{brand}{rnd.choice(CN_SECTORS)}有限公司"
            email = f"info{index}@{region_py.lower()}{rnd.randrange(100, 999)}.com.cn"
            phone = (
                f"0{rnd.choice(['10', '21', '20', '755', '571', '25', '28'])}-{rnd.randrange(10_000_000, 99_999_999)}"
            )
            region = region_cn
        else:
            region = rnd.choice(WEST_REGIONS)
            name = f"{rnd.choice(WEST_BRANDS)} {rnd.choice(WEST_SECTORS)} {rnd.choice(['Ltd', 'Inc.', 'GmbH', 'LLC'])}"
            email = f"sales{index}@{name.split()[0].lower()}{rnd.randrange(10, 999)}.com"
            phone = f"+1 212 {rnd.randrange(200, 999)} {rnd.randrange(1000, 9999)}"
        return {
            "name": name,
            "kind": "ORGANIZATION",
            "email": email if rnd.random() < 0.9 else None,
            "phone": phone if rnd.random() < 0.9 else None,
            "region": region,
            "address": None,
            "industry": None,
            "attributes": None,
        }

    def original(self, index: int) -> dict:
        while True:
            draw = self.rnd.random()
            if draw < 0.70:
                row = self.chinese_person(index)
            elif draw < 0.85:
                row = self.western_person(index)
            else:
                row = self.organisation(index)
            # One inbox, one person (households sharing one are made apart).
            if row["email"] is None or row["email"] not in self.used_emails:
                self.used_emails.add(row["email"])
                return row

    def household_member(self, row: dict) -> dict:
        """Someone else at the same address and landline: not a duplicate."""
        other = self.chinese_person(0)
        while other["name"][1:] == row["name"][1:] or sorted(other["name"][1:]) == sorted(row["name"][1:]):
            other = self.chinese_person(0)
        other["name"] = row["name"][0] + other["name"][1:]  # same family name, another given name
        other["phone"] = row["phone"]
        other["address"] = row["address"]
        other["region"] = row["region"]
        return other

    # -- duplicates -----------------------------------------------------------------

    def typo(self, text: str, letters: str = "abcdefghijklmnopqrstuvwxyz") -> str:
        rnd = self.rnd
        positions = [i for i, ch in enumerate(text) if ch.isalnum()]
        if len(positions) < 3:
            return text + rnd.choice(letters)
        i = rnd.choice(positions[1:])
        op = rnd.random()
        if op < 0.3:  # substitute
            return text[:i] + rnd.choice([c for c in letters if c != text[i].lower()]) + text[i + 1 :]
        if op < 0.55:  # drop
            return text[:i] + text[i + 1 :]
        if op < 0.8 and i + 1 < len(text) and text[i + 1].isalnum() and text[i] != text[i + 1]:  # swap
            return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        return text[:i] + rnd.choice(letters) + text[i:]  # insert

    def pinyin_of(self, name: str) -> tuple[str, str]:
        """(family, given) in pinyin of a generated Chinese name."""
        for s_cn, s_py, _ in sorted(SURNAMES, key=lambda s: -len(s[0])):
            if name.startswith(s_cn):
                lookup = dict(GIVEN)
                given = "".join(lookup.get(ch, "") for ch in name[len(s_cn) :])
                return s_py, given.capitalize()
        return name, ""

    def name_variant(self, row: dict) -> tuple[str, str]:
        """A name as another channel writes it, and what changed (``same``,
        ``script`` or ``typo``: how much evidence remains)."""
        rnd = self.rnd
        name = row["name"]
        chinese = row["kind"] == "PERSON" and not name.isascii()
        draw = rnd.random()
        if row["kind"] == "ORGANIZATION":
            if draw < 0.6:
                return name, "same"
            if name.isascii():
                return (self.typo(name), "typo") if draw < 0.8 else (name.upper(), "script")
            # A character left out, or the company form written another way.
            if draw < 0.8:
                return name.replace("有限公司", "公司"), "script"
            i = rnd.randrange(2, max(3, len(name) - 4))
            return name[:i] + name[i + 1 :], "typo"
        if chinese:
            family, given = self.pinyin_of(name)
            forms = [f"{family} {given}", f"{family.lower()} {given.lower()}", f"{family.upper()} {given}",
                     f"{given} {family}", f"{family}{given.lower()}", f"{family}  {given}"]  # fmt: skip
            if draw < 0.35:
                return name, "same"
            if draw < 0.75:
                return rnd.choice(forms), "script"
            if draw < 0.9:
                return self.typo(rnd.choice(forms[:4])), "typo"
            swapped = "".join(
                rnd.choice([c for c in group if c != ch])
                if (group := next((g for g in HOMOPHONES if ch in g), None))
                else ch
                for ch in name
            )
            return swapped, "script" if swapped != name else "same"
        if draw < 0.5:
            return name, "same"
        if draw < 0.7:
            return rnd.choice([name.upper(), name.lower(), name.replace(" ", "  ")]), "script"
        return self.typo(name), "typo"

    def duplicate(self, row: dict) -> dict:
        rnd = self.rnd
        for _ in range(50):
            name, name_change = self.name_variant(row)
            dup = dict(row, name=name)
            exact, near = 0, 0
            if row["email"]:
                draw = rnd.random()
                if draw < 0.5:
                    exact += 1
                elif draw < 0.7:
                    dup["email"] = row["email"].upper() if rnd.random() < 0.5 else row["email"].capitalize()
                    exact += 1
                elif draw < 0.85:
                    local, _, domain = row["email"].partition("@")
                    dup["email"] = f"{self.typo(local, '0123456789abcdefghijklmnopqrstuvwxyz')}@{domain}"
                    near += 1
                else:
                    dup["email"] = None
            if row["phone"]:
                digits = "".join(ch for ch in row["phone"] if ch.isdigit())
                chinese = row["phone"].startswith("+86") or not row["phone"].startswith("+")
                national = digits[2:] if row["phone"].startswith("+86") else digits
                draw = rnd.random()
                if draw < 0.3:
                    exact += 1
                elif draw < 0.75 and chinese and len(national) == 11 and national.startswith("1"):
                    dup["phone"] = rnd.choice(
                        [national, f"+86 {national[:3]}-{national[3:7]}-{national[7:]}", f"0086 {national}",
                         f"+86{national}", f"({national[:3]}) {national[3:7]} {national[7:]}", f"{national[:3]}.{national[3:7]}.{national[7:]}"]
                    )  # fmt: skip
                    exact += 1
                elif draw < 0.75:
                    dup["phone"] = row["phone"].replace(" ", "")
                    exact += 1
                elif draw < 0.85:
                    i = rnd.randrange(len(digits) - 4, len(digits) - 1)
                    if rnd.random() < 0.5 and digits[i] != digits[i + 1]:
                        changed = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
                    else:
                        changed = digits[:i] + rnd.choice([d for d in "0123456789" if d != digits[i]]) + digits[i + 1 :]
                    dup["phone"] = ("+" if row["phone"].startswith("+") else "") + changed
                    near += 1
                else:
                    dup["phone"] = None
            draw = rnd.random()
            if draw < 0.15:
                dup["region"] = None
            elif draw < 0.3:
                match = next((r for r in CN_REGIONS if r[0] == row["region"] or r[1] == row["region"]), None)
                if match is not None:
                    dup["region"] = rnd.choice([match[1], *match[2]])
            if rnd.random() < 0.4:
                dup["address"] = None
            if rnd.random() < 0.5:
                dup["attributes"] = None
            if exact or (near and name_change != "typo"):
                return dup
        return dict(row)

    # -- the data set -----------------------------------------------------------------

    def generate(self, customers: int, duplicates: int) -> DataSet:
        data = DataSet()
        originals = customers - duplicates
        households = max(1, originals // 200)
        for index in range(originals - households):
            data.rows.append(self.original(index))
        with_phone = [
            i
            for i, r in enumerate(data.rows)
            if r["kind"] == "PERSON" and not r["name"].isascii() and r["phone"] and r["address"]
        ]
        for source in self.rnd.sample(with_phone, min(households, len(with_phone))):
            data.households.append((source, len(data.rows)))
            data.rows.append(self.household_member(data.rows[source]))
        for source in self.rnd.sample(range(len(data.rows)), duplicates):
            data.duplicate_of[len(data.rows)] = source
            data.rows.append(self.duplicate(data.rows[source]))
        # Shuffle, so that a duplicate is not always the newer record.
        order = list(range(len(data.rows)))
        self.rnd.shuffle(order)
        position = {old: new for new, old in enumerate(order)}
        data.rows = [data.rows[old] for old in order]
        data.duplicate_of = {position[d]: position[s] for d, s in data.duplicate_of.items()}
        data.households = [(position[a], position[b]) for a, b in data.households]
        return data


def generate(customers: int = 100_000, duplicates: int = 2_000, seed: int = SEED) -> DataSet:
    return Generator(seed).generate(customers, duplicates)
