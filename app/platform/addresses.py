"""Which network addresses the gateway may call out to (server-side request forgery).

A URL a caller gives us (a webhook endpoint) must not make the gateway reach its own network:
it must be https, and every address its host resolves to must be a public (global unicast)
one — no loopback, private, link-local (the cloud metadata service at 169.254.169.254),
shared, reserved or multicast address, including IPv4 addresses mapped into IPv6. The check is
made when the URL is given and again before every request, since a name may resolve elsewhere
later. `private_ok` (development, or WEBHOOKS_ALLOW_PRIVATE) lifts both rules, for a receiver
on the same machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class AddressRefused(ValueError):
    """The URL may not be called; the message says why (safe to show the caller)."""


def public_address(address: str) -> bool:
    """Whether `address` (an IP literal) is one the gateway may call."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url_form(url: str, *, private_ok: bool) -> tuple[str, int]:
    """The URL's host and port if its form is acceptable, else AddressRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise AddressRefused("the URL is malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or (scheme == "http" and not private_ok):
        raise AddressRefused("the URL must be https")
    if not parts.hostname:
        raise AddressRefused("the URL has no host")
    if parts.username or parts.password:
        raise AddressRefused("the URL may not carry credentials")
    return parts.hostname, port or (443 if scheme == "https" else 80)


async def check_url(url: str, *, private_ok: bool) -> None:
    """AddressRefused unless `url` is https and its host resolves to public addresses only
    (or `private_ok`)."""
    host, port = check_url_form(url, private_ok=private_ok)
    if private_ok:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise AddressRefused(f"the host {host!r} does not resolve") from None
    addresses = {info[4][0] for info in infos}
    if not addresses or not all(public_address(str(address)) for address in addresses):
        raise AddressRefused(
            f"the host {host!r} resolves to a loopback, private or link-local address"
        )
