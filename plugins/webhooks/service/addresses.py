"""Which addresses a webhook may be sent to.

A webhook is a request the server makes on an admin's behalf, to a URL anyone who
can register an endpoint chooses: pointed at 127.0.0.1, 169.254.169.254 (a cloud's
metadata service) or a 10.x address, it would reach what only the server can reach.
So every address a URL's host resolves to must be public, unless plugins.toml's
``allow_private`` lists it (or the host name). The check runs when an endpoint is
registered and again before every request, and the request then goes to the very
address that was checked (``pinned``): a DNS answer that changes in between — DNS
rebinding — cannot smuggle a private address in.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

from kehu.errors import ValidationError

from ..settings import WebhookSettings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(ValidationError):
    code = "ADDRESS_NOT_ALLOWED"


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )


def _allowed(address: Address, host: str, settings: WebhookSettings) -> bool:
    for entry in settings.allow_private:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            if entry.lower() == host.lower():
                return True
    return False


@dataclass(frozen=True)
class Target:
    """A checked URL: where the request goes (``address``) and what it says it is for."""

    url: httpx.URL
    address: Address

    @property
    def pinned(self) -> httpx.URL:
        """The URL with its host replaced by the checked address."""
        return self.url.copy_with(host=str(self.address))

    @property
    def host_header(self) -> str:
        return self.url.host + (f":{self.url.port}" if self.url.port else "")


def parse(url: str, settings: WebhookSettings) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise ValidationError("not a URL", field="url", code="INVALID_URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValidationError("must be an http:// or https:// URL with a host", field="url", code="INVALID_URL")
    if parsed.userinfo:
        raise ValidationError("must not carry a user name or password", field="url", code="INVALID_URL")
    if parsed.fragment:
        raise ValidationError("must not have a #fragment", field="url", code="INVALID_URL")
    return parsed


def redacted(url: str) -> str:
    """``url`` as logs, errors and the audit log show it: where it goes, not the
    token many receivers carry in their path or query (a chat bot's hook URL,
    ``?access_token=…``) — a log reader could post as the server with it."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "(not a URL)"
    port = f":{parsed.port}" if parsed.port else ""
    rest = "/…" if parsed.path not in ("", "/") or parsed.query else ""
    return f"{parsed.scheme}://{parsed.host}{port}{rest}"


async def resolve(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ValidationError(f"the host {host} cannot be resolved", field="url", code="HOST_NOT_FOUND") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


async def check(url: str, settings: WebhookSettings) -> Target:
    """The URL checked, with the address to send to; ``AddressRefused`` if any address
    its host has is not public and not allowed."""
    parsed = parse(url, settings)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = await resolve(parsed.host, port)
    for address in addresses:
        if not is_public(address) and not _allowed(address, parsed.host, settings):
            raise AddressRefused(
                f"{parsed.host} is {address}, a loopback, private or link-local address"
                " (allow it in plugins.toml: [plugins.webhooks] allow_private)",
                field="url",
            )
    if settings.require_https and parsed.scheme != "https" and all(is_public(a) for a in addresses):
        raise ValidationError("must be an https:// URL", field="url", code="HTTPS_REQUIRED")
    return Target(parsed, addresses[0])
