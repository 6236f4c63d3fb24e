"""The notifications plugin: e-mail to a local SMTP server (aiosmtpd), per-language
templates, survey invitations with absolute links, complaint notices, the daily
digest, sending through the outbox once, rate limits, other channels."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import socket
import types

import pytest
from aiosmtpd.controller import Controller
from test_complaints import file_complaint, new_customer
from test_complaints import service as complaints_service
from test_surveys import create_survey, invite

from kehu import hookimpl
from kehu.models import OutboxEvent, OutboxState
from kehu.plugins.notifications.models import Message, MessageStatus
from kehu.plugins.notifications.service import Template
from kehu.schema import to_global_id
from kehu.testing import walk_pages
from kehu.writes import emit, write_scope

BASE = "http://testserver"  # what the test client answers to


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An SMTP server on 127.0.0.1 that keeps what it receives."""

    def __init__(self):
        self.port = free_port()
        self.messages: list[email.message.EmailMessage] = []
        self.controller = None

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"

    def start(self):
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def body(self, i: int = -1) -> str:
        return self.messages[i].get_content()


@pytest.fixture
def inbox():
    box = Inbox()
    box.start()
    yield box
    box.stop()


def settings(inbox, **extra):
    notifications = {"public_base_url": BASE, "smtp": {"host": "127.0.0.1", "port": inbox.port}, **extra}
    return {"notifications": notifications, "complaints": {"scheduler_interval_minutes": 0}}


def send(app):
    return app.run(app.kehu.outbox.run_once)


def customer_with_email(app, name="李雷", language=None, owner="agent", email="lilei@example.com"):
    attributes = {"language": language} if language else {}
    owner_id = to_global_id("AccountOwner", app.accounts[owner].id)
    return app.data(
        "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { customer { id } } }",
        {"i": {"name": name, "email": email, "attributes": attributes, "ownerId": owner_id}},
        as_="admin",
    )["createCustomer"]["customer"]["id"]


def messages(app, **filters):
    return app.run(lambda: Message.filter(**filters).order_by("id"))


def test_a_survey_invitation_arrives_in_chinese_with_an_absolute_link_that_opens_the_survey(make_app, inbox):
    app = make_app(enabled=("surveys", "notifications"), settings=settings(inbox))
    survey = create_survey(app, title="服务满意度调查")
    customer = customer_with_email(app)
    invite(app, survey["id"], [customer])
    assert inbox.messages == []  # the request did not wait for the mail server
    send(app)
    [mail] = inbox.messages
    assert mail["To"] == "lilei@example.com" and mail["Subject"] == "邀请您参与「服务满意度调查」"
    assert mail["Content-Language"] == "zh-CN"
    body = inbox.body()
    assert body.startswith("李雷，您好！")
    [link] = re.findall(r"http://testserver/s/\S+", body)
    page = app.client.get(link)
    assert page.status_code == 200 and "服务满意度调查" in page.text
    [logged] = messages(app)
    assert logged.status is MessageStatus.SENT and logged.body == "" and logged.template == "surveys.invitation"
    assert mail["Message-ID"] == logged.message_id
    # The link's token is not left in the outbox either.
    [event] = app.run(lambda: OutboxEvent.filter(name="kehu_survey_invitation_created"))
    assert event.arguments["link"] == {"$secret": None}


def test_a_customer_who_reads_english_gets_english(make_app, inbox):
    app = make_app(enabled=("surveys", "notifications"), settings=settings(inbox))
    survey = create_survey(app, title="Service survey")
    invite(app, survey["id"], [customer_with_email(app, "Lily", language="en")])
    send(app)
    assert inbox.messages[0]["Subject"] == "Your opinion on “Service survey”"
    assert inbox.body().startswith("Dear Lily,")


def test_a_message_is_sent_once_however_often_its_events_are_delivered(make_app, inbox):
    app = make_app(enabled=("surveys", "notifications"), settings=settings(inbox))
    survey = create_survey(app)
    invite(app, survey["id"], [customer_with_email(app)])
    send(app)

    async def everything_again():
        await OutboxEvent.filter(name__in=["kehu_notification_queued"]).update(state=OutboxState.PENDING)
        await app.kehu.outbox.run_once()

    app.run(everything_again)
    assert len(inbox.messages) == 1 and len(messages(app)) == 1


def test_a_mail_server_that_is_away_is_tried_again_later(make_app, inbox):
    inbox.stop()
    app = make_app(enabled=("surveys", "notifications"), settings=settings(inbox))
    survey = create_survey(app)
    invite(app, survey["id"], [customer_with_email(app)])
    send(app)
    [message] = messages(app)
    assert message.status is MessageStatus.QUEUED and message.attempts == 1 and message.error
    inbox.start()
    assert send(app).ids == []  # the pause is not over
    app.clock.advance(seconds=60)
    send(app)
    assert len(inbox.messages) == 1 and messages(app)[0].status is MessageStatus.SENT


def test_sending_is_rate_limited_without_losing_a_message(make_app, inbox):
    app = make_app(enabled=("surveys", "notifications"), settings=settings(inbox, rate_per_minute=2))
    survey = create_survey(app)
    customers = [customer_with_email(app, f"客户{i}", email=f"kehu{i}@example.com") for i in range(3)]
    invite(app, survey["id"], customers)
    send(app)
    assert len(inbox.messages) == 2
    app.clock.advance(seconds=61)
    send(app)
    assert len(inbox.messages) == 3
    assert [m.status for m in messages(app)] == [MessageStatus.SENT] * 3


def test_an_escalated_complaint_is_told_to_the_owner_and_the_teams_manager(make_app, inbox):
    app = make_app(enabled=("complaints", "notifications"), settings=settings(inbox))
    customer = new_customer(app, as_="agent")
    file_complaint(app, customer, priority="HIGH")  # first response due in 4 hours
    app.clock.advance(hours=5)
    result = app.run(complaints_service.check_sla, app.kehu)
    assert result.escalated
    send(app)
    subjects = {m["To"]: m["Subject"] for m in inbox.messages}
    # The agent owns the customer (and the case); the manager leads team north.
    assert set(subjects) == {"agent@example.com", "manager@example.com"}
    escalated = [m for m in inbox.messages if m["Subject"].startswith("投诉升级")]
    breached = [m for m in inbox.messages if m["Subject"].startswith("投诉超时")]
    assert len(escalated) == 2 and len(breached) == 2
    assert "first response overdue" in escalated[0].get_content()
    assert "http://testserver/console#/complaints/" in escalated[0].get_content()


def test_the_daily_digest_lists_each_agents_follow_ups_once_a_day(make_app, inbox):
    app = make_app(
        enabled=("notifications",), settings=settings(inbox, timezone="Asia/Shanghai", default_language="en")
    )
    customer = customer_with_email(app, "Wang Fang")
    due = (app.clock.now() + dt.timedelta(hours=3)).isoformat()
    app.data(
        'mutation($c: ID!, $f: DateTime!) { logInteraction(input: {customerId: $c, kind: CALL, subject: "quote",'
        " nextFollowUpAt: $f}) { userErrors { code } } }",
        {"c": customer, "f": due},
        as_="agent",
    )
    from kehu.plugins.notifications.service import send_digests

    assert app.run(send_digests, app.kehu) == 1
    assert app.run(send_digests, app.kehu) == 0  # the same day again: nothing new
    send(app)
    [mail] = inbox.messages
    assert mail["To"] == "agent@example.com" and mail["Subject"] == "Follow-ups for 2026-01-01: 1 customer(s)"
    assert "Wang Fang" in mail.get_content() and "quote" in mail.get_content()

    async def reads_chinese():  # what setMyLanguage stores
        from kehu.models import AccountOwner

        await AccountOwner.filter(email="agent@example.com").update(language="zh-CN")

    app.run(reads_chinese)
    app.clock.advance(days=1, hours=-1)  # the next day; the follow-up is overdue now
    app.run(send_digests, app.kehu)
    send(app)
    assert inbox.messages[-1]["Subject"] == "今日回访提醒：1 位客户（2026-01-02）"


def test_the_digest_runs_as_a_daily_job_at_its_local_time(make_app, inbox):
    from kehu import jobs

    app = make_app(enabled=("notifications",), settings=settings(inbox, timezone="Asia/Shanghai"))
    job = jobs._jobs[app.kehu]["notifications.digest"]
    # 08:00 in Shanghai is 00:00 UTC.
    assert job.seconds == 86400 and job.offset == 0


def test_other_plugins_contribute_templates_and_channels(make_app, inbox):
    sent = []

    class Sms:
        name = "sms"

        def address_for(self, recipient):
            return getattr(recipient.customer, "phone", None)

        async def send(self, message):
            sent.append((message.address, message.body))

    plugin = types.SimpleNamespace(
        kehu_notification_templates=hookimpl(
            lambda: [
                {
                    "key": "points.tier_up",
                    "language": "zh-CN",
                    "subject": "恭喜升级为$tier",
                    "text": "$recipient，您已升级为$tier会员。",
                },
                Template("points.tier_up", "en", "You are $tier now", "Dear $recipient, welcome to $tier."),
            ]
        ),
        kehu_notification_channels=hookimpl(lambda: [Sms()]),
    )
    app = make_app(
        enabled=("notifications", "points"),
        extra_plugins={"points": plugin},
        settings=settings(inbox, channels=["email", "sms"]),
    )
    customer = app.data(
        'mutation { createCustomer(input: {name: "李雷", email: "li@example.com", phone: "13812345678"}) '
        "{ customer { id } } }",
        as_="admin",
    )["createCustomer"]["customer"]["id"]

    async def ask():
        from kehu.ids import from_global_id

        async with write_scope(app.kehu, None, "points.tierUp"):
            emit(
                "kehu_notification_requested",
                template="points.tier_up",
                owner_ids=[],
                customer_ids=[from_global_id(customer)[1]],
                context={"tier": "黄金"},
            )

    app.run(ask)
    send(app)
    assert inbox.messages[0]["Subject"] == "恭喜升级为黄金"
    assert sent == [("13812345678", "李雷，您已升级为黄金会员。")]


def test_admins_read_the_log_and_a_customer_without_address_is_logged_as_skipped(make_app, inbox):
    app = make_app(enabled=("surveys", "notifications"), settings=settings(inbox))
    survey = create_survey(app)
    no_email = app.data('mutation { createCustomer(input: {name: "No Mail"}) { customer { id } } }', as_="agent")[
        "createCustomer"
    ]["customer"]["id"]
    invite(app, survey["id"], [no_email])
    send(app)
    log = app.data("{ notificationMessages { edges { node { status template error address } } } }", as_="admin")
    assert [edge["node"] for edge in log["notificationMessages"]["edges"]] == [
        {"status": "SKIPPED", "template": "surveys.invitation", "error": "no email address", "address": ""}
    ]
    assert app.gql("{ notificationMessages { totalCount } }", as_="manager")["errors"][0]["extensions"]["code"] == (
        "FORBIDDEN"
    )


def test_the_log_shows_addresses_and_subjects_no_clearer_than_the_customer_they_copy(make_app, inbox):
    """Granted notifications.read, an analyst reads the log as they read customers:
    addresses partly masked, subjects (which name customers) not at all."""
    app = make_app(
        enabled=("complaints", "surveys", "masking", "notifications"),
        settings={**settings(inbox), "masking": {}},
        config={"roles": {"ANALYST": ["notifications.read"]}},
    )
    invite(app, create_survey(app)["id"], [customer_with_email(app, "李雷")])
    file_complaint(app, new_customer(app, as_="agent", name="韩梅梅"), priority="HIGH")
    app.clock.advance(hours=5)
    assert app.run(complaints_service.check_sla, app.kehu).escalated
    log = "{ notificationMessages { edges { node { template address subject } } } }"
    as_admin = [edge["node"] for edge in app.data(log, as_="admin")["notificationMessages"]["edges"]]
    as_analyst = [edge["node"] for edge in app.data(log, as_="analyst")["notificationMessages"]["edges"]]
    assert "lilei@example.com" in str(as_admin) and "韩梅梅" in str(as_admin)
    assert "lilei@example.com" not in str(as_analyst) and "韩梅梅" not in str(as_analyst)
    [invitation] = [m for m in as_analyst if m["template"] == "surveys.invitation"]
    assert invitation["address"].endswith("@example.com") and invitation["subject"] != ""


def test_a_test_message_checks_the_mail_settings(make_app, inbox):
    app = make_app(enabled=("notifications",), settings=settings(inbox))
    result = app.data(
        'mutation { sendTestNotification(input: {email: "ops@example.com", language: "en"}) '
        "{ message { status address } userErrors { field code } } }",
        as_="admin",
    )["sendTestNotification"]
    assert result == {"message": {"status": "QUEUED", "address": "ops@example.com"}, "userErrors": []}
    send(app)
    assert inbox.messages[0]["Subject"] == "kehu test message"
    bad = app.data(
        'mutation { sendTestNotification(input: {email: "not an address"}) { userErrors { field code } } }',
        as_="admin",
    )["sendTestNotification"]
    assert bad["userErrors"][0]["field"] == "email"


def test_the_message_log_pages_by_keyset_and_each_message_is_a_node_for_admins(make_app, inbox):
    app = make_app(enabled=("notifications",), settings=settings(inbox))
    for i in range(7):
        app.data(
            "mutation($e: String!) { sendTestNotification(input: {email: $e}) { userErrors { code } } }",
            {"e": f"ops{i}@example.com"},
            as_="admin",
        )
    ids = walk_pages(app, "notificationMessages", as_="admin")
    assert len(ids) == 7
    query = "query($id: ID!) { node(id: $id) { __typename ... on NotificationMessage { address } } }"
    newest = app.data(query, {"id": ids[0]}, as_="admin")["node"]
    assert newest == {"__typename": "NotificationMessage", "address": "ops6@example.com"}
    assert app.data(query, {"id": ids[0]}, as_="manager")["node"] is None
