"""Message templates, per key and language, contributed through
``kehu_notification_templates`` (the plugin's own come the same way)."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kehu.errors import PluginError

from ..settings import LANGUAGES

if TYPE_CHECKING:
    from kehu import Kehu


@dataclass(frozen=True)
class Template:
    key: str
    language: str
    subject: str
    text: str

    def render(self, context: dict[str, Any]) -> tuple[str, str]:
        """Subject and body with ``$name`` filled in; a missing name is an error
        (KeyError) rather than a message with a hole in it."""
        values = {k: "" if v is None else str(v) for k, v in context.items()}
        subject = string.Template(self.subject).substitute(values)
        return " ".join(subject.split())[:300], string.Template(self.text).substitute(values)


_registries: dict[int, dict[tuple[str, str], Template]] = {}


def templates(kehu: Kehu) -> dict[tuple[str, str], Template]:
    """Every contributed template by (key, language); built once per app."""
    found = _registries.get(id(kehu))
    if found is None:
        found = {}
        for plugin, contributed in kehu.plugins.each("kehu_notification_templates"):
            for template in contributed or ():
                if isinstance(template, dict):  # plugins need not import this module
                    template = Template(**template)
                if template.language not in LANGUAGES:
                    raise PluginError(f"plugin '{plugin}': template {template.key} has language {template.language}")
                if (template.key, template.language) in found:
                    raise PluginError(f"plugin '{plugin}': template {template.key} ({template.language}) exists twice")
                found[(template.key, template.language)] = template
        _registries[id(kehu)] = found
    return found


def template_for(kehu: Kehu, key: str, language: str) -> Template | None:
    known = templates(kehu)
    for candidate in (language, *LANGUAGES):
        if (key, candidate) in known:
            return known[(key, candidate)]
    return None


# The plugin's own templates: survey invitations, complaint notices, the digest.
BUILTIN = [
    Template(
        "surveys.invitation",
        "zh-CN",
        "邀请您参与「$survey」",
        "$customer，您好！\n\n感谢您一直以来的支持。诚邀您花一两分钟参与「$survey」，"
        "您的意见将帮助我们改进服务：\n\n$link\n\n链接仅供您本人使用，有效期至 $expires。\n\n$sender",
    ),
    Template(
        "surveys.invitation",
        "en",
        "Your opinion on “$survey”",
        "Dear $customer,\n\nThank you for being our customer. Would you spare a minute or two for “$survey”? "
        "Your answers help us serve you better:\n\n$link\n\nThe link is for you alone and works until $expires.\n\n$sender",
    ),
    Template(
        "complaints.escalated",
        "zh-CN",
        "投诉升级：$customer（$priority）",
        "$recipient，您好：\n\n客户 $customer 的投诉（$category，优先级 $priority）已升级。\n原因：$reason\n"
        "当前处理人：$assignee\n\n请尽快处理：$link",
    ),
    Template(
        "complaints.escalated",
        "en",
        "Complaint escalated: $customer ($priority)",
        "Hello $recipient,\n\nThe complaint of $customer ($category, $priority priority) was escalated.\n"
        "Reason: $reason\nAssigned to: $assignee\n\nPlease act on it: $link",
    ),
    Template(
        "complaints.sla_breached",
        "zh-CN",
        "投诉超时：$customer（$deadline）",
        "$recipient，您好：\n\n客户 $customer 的一件投诉已超过$deadline时限。\n\n请尽快处理：$link",
    ),
    Template(
        "complaints.sla_breached",
        "en",
        "Complaint overdue: $customer ($deadline)",
        "Hello $recipient,\n\nA complaint of $customer missed its $deadline deadline.\n\nPlease act on it: $link",
    ),
    Template(
        "followups.digest",
        "zh-CN",
        "今日回访提醒：$count 位客户（$date）",
        "$recipient，您好：\n\n以下客户今天需要回访（含逾期）：\n\n$items\n\n$link",
    ),
    Template(
        "followups.digest",
        "en",
        "Follow-ups for $date: $count customer(s)",
        "Hello $recipient,\n\nThese customers are due for a follow-up today (or overdue):\n\n$items\n\n$link",
    ),
    Template(
        "notifications.test",
        "zh-CN",
        "kehu 测试邮件",
        "这是一封测试邮件：kehu 的邮件设置可以正常发送。",
    ),
    Template(
        "notifications.test",
        "en",
        "kehu test message",
        "This is a test message: kehu's mail settings work.",
    ),
]
