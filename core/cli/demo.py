"""A realistic demo data set, for trying kehu out (``kehu demo``) — never for production.

``seed_demo`` creates a few account owners in three teams, a few hundred customers
(persons and organizations, Chinese and Western, across regions and industries)
and some thousands of interactions over the past two years. Customers follow a
handful of behaviours — champions, loyal regulars, newcomers, customers drifting
away, lost ones, prospects who never bought — so that segmentation and loyalty
have something to show. Everything is derived from one ``random.Random(seed)`` and
the kehu clock, so the same seed on the same day gives the same data.

One account per role can sign in with the fixed credentials of ``DEMO_ACCOUNTS``
(the README lists them). Seeding is idempotent: when the demo accounts exist,
nothing is written. Those passwords are public, so seeding refuses a database that
already holds any other account (a real deployment) unless forced, and
``kehu serve`` warns for as long as a demo account can still sign in with its
public password (``open_demo_accounts``).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..credentials import hash_password, verify_password
from ..duplicates import apply_keys
from ..errors import ConfigError
from ..models import (
    AccountOwner,
    Customer,
    CustomerKind,
    CustomerTag,
    Direction,
    Interaction,
    InteractionKind,
    Role,
)
from ..writes import write_scope
from .transfer import bulk_create_with_ids, bulk_loaded

if TYPE_CHECKING:
    from ..server.runtime import Kehu

# role -> (e-mail, password, name, team). Demo only: the passwords are public.
DEMO_ACCOUNTS: dict[str, tuple[str, str, str, str]] = {
    "ADMIN": ("admin@demo.kehu", "kehu-demo-admin", "Demo Admin", ""),
    "MANAGER": ("manager@demo.kehu", "kehu-demo-manager", "陈静 Chen Jing", "east"),
    "AGENT": ("agent@demo.kehu", "kehu-demo-agent", "李娜 Li Na", "east"),
    "ANALYST": ("analyst@demo.kehu", "kehu-demo-analyst", "Demo Analyst", ""),
}

# Staff who look after customers but cannot sign in (no password).
STAFF: list[tuple[str, str, Role, str]] = [
    ("张伟 Zhang Wei", "zhang.wei@demo.kehu", Role.AGENT, "east"),
    ("Emma Fischer", "emma.fischer@demo.kehu", Role.AGENT, "east"),
    ("王强 Wang Qiang", "wang.qiang@demo.kehu", Role.MANAGER, "south"),
    ("刘洋 Liu Yang", "liu.yang@demo.kehu", Role.AGENT, "south"),
    ("Oliver Grant", "oliver.grant@demo.kehu", Role.AGENT, "south"),
    ("Sophie Martin", "sophie.martin@demo.kehu", Role.MANAGER, "key-accounts"),
    ("黄敏 Huang Min", "huang.min@demo.kehu", Role.AGENT, "key-accounts"),
]

# (hanzi, pinyin)
SURNAMES = [
    ("王", "Wang"),
    ("李", "Li"),
    ("张", "Zhang"),
    ("刘", "Liu"),
    ("陈", "Chen"),
    ("杨", "Yang"),
    ("黄", "Huang"),
    ("赵", "Zhao"),
    ("吴", "Wu"),
    ("周", "Zhou"),
    ("徐", "Xu"),
    ("孙", "Sun"),
    ("马", "Ma"),
    ("朱", "Zhu"),
    ("胡", "Hu"),
    ("郭", "Guo"),
    ("何", "He"),
    ("林", "Lin"),
]
GIVEN_NAMES = [
    ("芳", "Fang"),
    ("伟", "Wei"),
    ("娜", "Na"),
    ("敏", "Min"),
    ("静", "Jing"),
    ("丽", "Li"),
    ("强", "Qiang"),
    ("磊", "Lei"),
    ("军", "Jun"),
    ("洋", "Yang"),
    ("勇", "Yong"),
    ("艳", "Yan"),
    ("杰", "Jie"),
    ("涛", "Tao"),
    ("明", "Ming"),
    ("超", "Chao"),
    ("秀英", "Xiuying"),
    ("晓明", "Xiaoming"),
    ("建华", "Jianhua"),
    ("海燕", "Haiyan"),
    ("子涵", "Zihan"),
    ("雨桐", "Yutong"),
]
WESTERN_FIRST = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Charlotte",
    "James",
    "Amelia",
    "Lucas",
    "Mia",
    "Henry",
    "Sophia",
    "Jack",
    "Hannah",
    "Felix",
    "Clara",
    "Max",
    "Isabella",
    "Daniel",
    "Grace",
    "Leon",
]
WESTERN_LAST = [
    "Smith",
    "Johnson",
    "Brown",
    "Taylor",
    "Müller",
    "Schmidt",
    "Wilson",
    "Davies",
    "Martin",
    "Bernard",
    "Rossi",
    "García",
    "Anderson",
    "Clarke",
    "Weber",
    "Walker",
    "Dubois",
    "Evans",
]

# (city, city in pinyin, region, streets)
CN_CITIES = [
    ("上海", "Shanghai", "Shanghai", ["世纪大道", "南京东路", "淮海中路"]),
    ("北京", "Beijing", "Beijing", ["建国路", "中关村大街", "朝阳北路"]),
    ("杭州", "Hangzhou", "Zhejiang", ["文三路", "延安路"]),
    ("宁波", "Ningbo", "Zhejiang", ["中山东路", "江东北路"]),
    ("深圳", "Shenzhen", "Guangdong", ["深南大道", "科技园路"]),
    ("广州", "Guangzhou", "Guangdong", ["天河路", "环市东路"]),
    ("苏州", "Suzhou", "Jiangsu", ["人民路", "干将路"]),
    ("南京", "Nanjing", "Jiangsu", ["中山路", "汉中路"]),
    ("成都", "Chengdu", "Sichuan", ["天府大道", "春熙路"]),
]
# (city, country, phone pattern, street, e-mail domain ending)
WEST_CITIES = [
    ("London", "United Kingdom", "+44 20 7946 {:04d}", "High Street", ".co.uk"),
    ("Manchester", "United Kingdom", "+44 161 496 {:04d}", "Deansgate", ".co.uk"),
    ("Berlin", "Germany", "+49 30 901 {:04d}", "Friedrichstraße", ".de"),
    ("Munich", "Germany", "+49 89 2101 {:04d}", "Leopoldstraße", ".de"),
    ("New York", "United States", "+1 212 555 {:04d}", "Broadway", ".com"),
    ("San Francisco", "United States", "+1 415 555 {:04d}", "Market Street", ".com"),
    ("Singapore", "Singapore", "+65 6123 {:04d}", "Orchard Road", ".sg"),
]
CN_BRANDS = ["云帆", "华信", "恒通", "瑞丰", "金桥", "海纳", "新元", "博远", "天成", "长青", "鼎盛", "嘉禾"]
CN_SECTORS = [
    ("科技", "Software"),
    ("贸易", "Wholesale"),
    ("物流", "Logistics"),
    ("餐饮", "Hospitality"),
    ("医疗器械", "Healthcare"),
    ("电子", "Manufacturing"),
    ("教育咨询", "Education"),
    ("服饰", "Retail"),
]
WEST_BRANDS = [
    "Northwind",
    "Bluewater",
    "Silverline",
    "Oakridge",
    "Brightpath",
    "Redstone",
    "Greenfield",
    "Harbor & Finch",
    "Summit",
    "Crescent",
    "Alder",
    "Beacon",
]
WEST_SECTORS = [
    ("Software", "Software"),
    ("Trading", "Wholesale"),
    ("Logistics", "Logistics"),
    ("Foods", "Hospitality"),
    ("Medical", "Healthcare"),
    ("Industries", "Manufacturing"),
    ("Learning", "Education"),
    ("Outfitters", "Retail"),
]
PERSON_INDUSTRIES = ["Retail", "Education", "Healthcare", "Finance", "Hospitality", None]
EXTRA_TAGS = ["newsletter", "wholesale", "referral", "trade-show", "wechat", "online", "price-sensitive", "event"]
SOURCES = ["referral", "trade show", "website", "wechat", "cold call", "partner"]

SUBJECTS: dict[InteractionKind, list[str]] = {
    InteractionKind.CALL: ["Follow-up call", "回访电话", "Pricing question", "Delivery status", "产品咨询"],
    InteractionKind.VISIT: ["On-site visit", "门店拜访", "Showroom tour", "Quarterly review at their office"],
    InteractionKind.EMAIL: ["Sent quotation", "发送报价单", "Catalogue sent", "Invoice copy", "Newsletter reply"],
    InteractionKind.MEETING: ["Contract negotiation", "年度合作洽谈", "Product demo", "Kick-off meeting"],
    InteractionKind.MESSAGE: ["WeChat message", "微信沟通", "WhatsApp message", "Order confirmation"],
    InteractionKind.NOTE: ["Prefers mornings", "决策人是采购经理", "Budget approved for Q3", "Asked for discount"],
    InteractionKind.PURCHASE: ["Online order", "门店购买", "Wholesale order", "Annual renewal", "Repeat order"],
}
TOUCH_KINDS = [
    InteractionKind.CALL,
    InteractionKind.EMAIL,
    InteractionKind.MESSAGE,
    InteractionKind.MEETING,
    InteractionKind.VISIT,
    InteractionKind.NOTE,
]
TOUCH_WEIGHTS = [30, 25, 25, 8, 6, 6]


@dataclass(frozen=True)
class Behaviour:
    """How a kind of customer buys: purchases over the whole period, the days since
    the last contact, and the typical order value."""

    name: str
    share: int  # relative frequency
    purchases: tuple[int, int]
    touches: tuple[int, int]
    last_contact_days: tuple[int, int]
    basket: float  # median order value in CNY-ish units
    new: bool = False


BEHAVIOURS = [
    Behaviour("champion", 10, (12, 24), (10, 20), (0, 20), 2400.0),
    Behaviour("loyal", 20, (6, 14), (5, 12), (5, 60), 900.0),
    Behaviour("new", 14, (1, 3), (2, 5), (0, 30), 600.0, new=True),
    Behaviour("occasional", 16, (2, 5), (3, 8), (20, 150), 500.0),
    Behaviour("at_risk", 14, (4, 10), (3, 8), (180, 330), 1100.0),
    Behaviour("lost", 10, (1, 4), (2, 5), (400, 700), 450.0),
    Behaviour("prospect", 16, (0, 0), (1, 6), (1, 200), 0.0),
]
HISTORY_DAYS = 730


@dataclass
class _Plan:
    customer: Customer
    behaviour: Behaviour
    interactions: list[Interaction] = field(default_factory=list)


def demo_credentials() -> dict[str, tuple[str, str]]:
    return {role: (email, password) for role, (email, password, _, _) in DEMO_ACCOUNTS.items()}


class DemoRefused(ConfigError):
    code = "DEMO_REFUSED"


async def open_demo_accounts() -> list[str]:
    """E-mails of the demo accounts that can still sign in with their public
    password (active, password unchanged)."""
    emails = {email: password for email, password, *_ in DEMO_ACCOUNTS.values()}
    rows = await AccountOwner.filter(email__in=list(emails), active=True).values_list("email", "password_hash")
    return sorted(email for email, password_hash in rows if verify_password(password_hash, emails[email]))


async def seed_demo(
    kehu: Kehu, *, customers: int = 300, seed: int = 42, events: bool = False, force: bool = False
) -> dict[str, tuple[str, str]]:
    """Seed the demo data set and return ``{role: (email, password)}`` of the demo
    accounts. Does nothing (but return them) when the demo accounts already exist.
    Raises ``DemoRefused`` when the database holds any other account — its users
    would share a server with accounts whose passwords are public — unless ``force``.

    One transaction and one audit entry (``seedDemo``); then ``kehu_bulk_loaded``,
    as after an import, so enabled plugins bring their data up to date in one pass
    as of each record's date. With ``events``,
    the per-record ``kehu_customer_created``/``kehu_interaction_logged`` events are
    sent instead, oldest first, as if everything had been entered by hand (much
    slower with plugins enabled: about 18 s against a second or two).
    """
    emails = [email for email, *_ in DEMO_ACCOUNTS.values()]
    if await AccountOwner.filter(email__in=emails).exists():
        return demo_credentials()
    others = await AccountOwner.exclude(email__in=emails + [email for _, email, *_ in STAFF]).count()
    if others and not force:
        raise DemoRefused(
            f"this database already holds {others} account(s): the demo accounts' passwords are public, "
            "so they are not added to it (kehu demo --force to add them anyway)"
        )
    rnd = random.Random(seed)
    now = kehu.clock.now().replace(microsecond=0)
    async with write_scope(kehu, None, "seedDemo", actor_label="kehu demo") as scope:
        owners = await _create_owners(now)
        plans = _plan_customers(rnd, owners, customers, now)
        customer_rows = [p.customer for p in plans]
        for customer in customer_rows:
            apply_keys(kehu, customer)
        await bulk_create_with_ids(Customer, customer_rows)
        await CustomerTag.bulk_create([CustomerTag(customer_id=c.pk, tag=t) for c in customer_rows for t in c.tags])
        interactions = []
        for plan in plans:
            for interaction in plan.interactions:
                interaction.customer = plan.customer
                interactions.append(interaction)
        interactions.sort(key=lambda i: (i.occurred_at, i.customer_id))
        await bulk_create_with_ids(Interaction, interactions)
        scope.changes.update(owners=len(owners), customers=len(customer_rows), interactions=len(interactions))
        if events:
            for customer in customer_rows:
                scope.emit("kehu_customer_created", customer=customer)
            for interaction in interactions:
                scope.emit("kehu_interaction_logged", interaction=interaction)
    if not events and customer_rows:
        # The same end of a load as an import's: plugins rebuild their data as of
        # each record's date (loyalty's ledger then spans the demo's two years).
        ids = [i.pk for i in interactions]
        await bulk_loaded(
            kehu,
            None,
            reason="demo",
            customer_ids={c.pk for c in customer_rows},
            interaction_ids=range(min(ids), max(ids) + 1) if ids else None,
            since=min(c.created_at for c in customer_rows),
        )
    return demo_credentials()


async def _create_owners(now: dt.datetime) -> list[AccountOwner]:
    owners = []
    for role, (email, password, name, team) in DEMO_ACCOUNTS.items():
        owners.append(
            AccountOwner(name=name, email=email, role=Role(role), team=team, password_hash=hash_password(password))
        )
    for name, email, role, team in STAFF:
        owners.append(AccountOwner(name=name, email=email, role=role, team=team))
    for owner in owners:
        owner.created_at = now - dt.timedelta(days=HISTORY_DAYS + 30)
    await bulk_create_with_ids(AccountOwner, owners)
    return owners


def _money(rnd: random.Random, median: float) -> Decimal:
    value = rnd.lognormvariate(0, 0.6) * median
    return Decimal(str(round(max(value, 9.9), 2))).quantize(Decimal("0.01"))


def _identity(rnd: random.Random, index: int) -> dict:
    """Name, kind, contact details, region and industry of one customer."""
    chinese = rnd.random() < 0.6
    organization = rnd.random() < 0.35
    industry: str | None
    if chinese:
        city_cn, city_en, region, streets = rnd.choice(CN_CITIES)
        domain_tail = ".cn"
        phone = f"+86 1{rnd.choice('3589')}{rnd.randrange(10)} {rnd.randrange(10000):04d} {rnd.randrange(10000):04d}"
        address = f"{city_cn}市{rnd.choice(streets)}{rnd.randrange(1, 999)}号"
        if organization:
            brand = rnd.choice(CN_BRANDS)
            sector_cn, industry = rnd.choice(CN_SECTORS)
            name = f"{city_cn}{brand}{sector_cn}有限公司"
            email = f"info{index}@{city_en.lower()}-{industry.lower()}.example{domain_tail}"
        else:
            (s_cn, s_py), (g_cn, g_py) = rnd.choice(SURNAMES), rnd.choice(GIVEN_NAMES)
            name = f"{s_cn}{g_cn}"
            email = f"{g_py.lower()}.{s_py.lower()}{index}@example{domain_tail}"
            industry = rnd.choice(PERSON_INDUSTRIES)
    else:
        city, country, phone_pattern, street, domain_tail = rnd.choice(WEST_CITIES)
        region = city if country in ("United Kingdom", "Germany", "United States") else country
        phone = phone_pattern.format(rnd.randrange(10000))
        address = f"{rnd.randrange(1, 400)} {street}\n{city}, {country}"
        if organization:
            brand = rnd.choice(WEST_BRANDS)
            sector, industry = rnd.choice(WEST_SECTORS)
            suffix = {"Germany": "GmbH", "United Kingdom": "Ltd", "United States": "Inc."}.get(country, "Pte. Ltd.")
            name = f"{brand} {sector} {suffix}"
            email = f"sales{index}@{brand.split()[0].lower()}-{sector.lower()}.example{domain_tail}"
        else:
            first, last = rnd.choice(WESTERN_FIRST), rnd.choice(WESTERN_LAST)
            name = f"{first} {last}"
            ascii_last = last.replace("ü", "ue").replace("í", "i")
            email = f"{first.lower()}.{ascii_last.lower()}{index}@example{domain_tail}"
            industry = rnd.choice(PERSON_INDUSTRIES)
    return {
        "name": name,
        "kind": CustomerKind.ORGANIZATION if organization else CustomerKind.PERSON,
        "email": email if rnd.random() < 0.9 else None,
        "phone": phone if rnd.random() < 0.85 else None,
        "address": address if rnd.random() < 0.7 else None,
        "region": region,
        "industry": industry,
    }


def _plan_customers(rnd: random.Random, owners: list[AccountOwner], count: int, now: dt.datetime) -> list[_Plan]:
    # The demo agent gets a fair share so that signing in as AGENT shows a full list.
    carers = [o for o in owners if o.role in (Role.AGENT, Role.MANAGER)]
    weights = [4 if o.email == DEMO_ACCOUNTS["AGENT"][0] else 2 if o.role is Role.AGENT else 1 for o in carers]
    plans = []
    for index in range(1, count + 1):
        behaviour = rnd.choices(BEHAVIOURS, weights=[b.share for b in BEHAVIOURS])[0]
        identity = _identity(rnd, index)
        owner = rnd.choices(carers, weights=weights)[0] if rnd.random() < 0.92 else None
        organization = identity["kind"] is CustomerKind.ORGANIZATION
        tags = set(rnd.sample(EXTRA_TAGS, rnd.randrange(0, 3)))
        if behaviour.name == "champion":
            tags.add("vip")
        if organization:
            tags.add("b2b")
            if behaviour.basket > 1000 and rnd.random() < 0.5:
                tags.add("key account")
        attributes: dict[str, Any] = {"source": rnd.choice(SOURCES)}
        if organization:
            attributes["employees"] = rnd.choice([8, 25, 60, 150, 400, 1200])
        elif rnd.random() < 0.3:
            attributes["birthday"] = f"{rnd.randrange(1, 13):02d}-{rnd.randrange(1, 29):02d}"

        last_contact = now - dt.timedelta(days=rnd.randint(*behaviour.last_contact_days), hours=rnd.randrange(24))
        if behaviour.new:
            first_contact = last_contact - dt.timedelta(days=rnd.randrange(5, 60))
        else:
            earliest_days = max(rnd.randrange(200, HISTORY_DAYS), (now - last_contact).days + 30)
            first_contact = now - dt.timedelta(days=earliest_days, hours=rnd.randrange(24))
        created_at = first_contact - dt.timedelta(days=rnd.randrange(0, 10), minutes=rnd.randrange(600))

        customer = Customer(
            **identity,
            tags=sorted(tags),
            attributes=attributes,
            owner_id=owner.pk if owner else None,
            created_at=created_at,
        )
        plan = _Plan(customer, behaviour)
        span = (last_contact - first_contact).total_seconds()
        carer = owner or rnd.choice(carers)
        basket = behaviour.basket * (3 if organization else 1)

        def at(fraction: float, first_contact=first_contact, span=span) -> dt.datetime:
            return (first_contact + dt.timedelta(seconds=span * fraction)).replace(microsecond=0)

        moments = sorted(
            [0.0, 1.0]
            + [rnd.random() for _ in range(rnd.randint(*behaviour.touches) + rnd.randint(*behaviour.purchases) - 2)]
        )
        purchases = set(rnd.sample(range(len(moments)), min(rnd.randint(*behaviour.purchases), len(moments))))
        for position, fraction in enumerate(moments):
            if position in purchases:
                kind, amount, direction = InteractionKind.PURCHASE, _money(rnd, basket), Direction.INBOUND
            else:
                kind = rnd.choices(TOUCH_KINDS, weights=TOUCH_WEIGHTS)[0]
                amount = None
                direction = (
                    Direction.INTERNAL
                    if kind is InteractionKind.NOTE
                    else Direction.OUTBOUND
                    if kind in (InteractionKind.VISIT, InteractionKind.MEETING)
                    else rnd.choice([Direction.INBOUND, Direction.OUTBOUND, Direction.OUTBOUND])
                )
            occurred = at(fraction)
            plan.interactions.append(
                Interaction(
                    owner_id=carer.pk,
                    kind=kind,
                    direction=direction,
                    occurred_at=occurred,
                    subject=rnd.choice(SUBJECTS[kind]),
                    notes="" if rnd.random() < 0.6 else rnd.choice(SUBJECTS[InteractionKind.NOTE]),
                    amount=amount,
                    created_at=min(now, occurred + dt.timedelta(minutes=rnd.randrange(1, 90))),
                )
            )
        # Open follow-ups on the latest contact: some due soon, some already overdue.
        latest = plan.interactions[-1]
        if behaviour.name != "lost" and rnd.random() < 0.45:
            latest.next_follow_up_at = latest.occurred_at + dt.timedelta(days=rnd.randrange(2, 30))
        customer.last_interaction_at = max(i.occurred_at for i in plan.interactions)
        plans.append(plan)
    return plans
