"""The guard in front of every server address a staff member types in.

The connect form makes this server open connections to a URL of the user's choosing, which
would let anyone with a staff login probe the internal network (SSRF). So: https only, and
no host that resolves to loopback, link-local, private, multicast or reserved addresses,
unless settings allow it: EXCHANGE_INTERNAL_HOSTS names on-premises servers an IT department
trusts (mail.corp.local), EXCHANGE_ALLOW_PRIVATE_HOSTS opens everything (the simulator on
127.0.0.1 in the demo and tests).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from calendars.errors import UrlNotAllowed


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlNotAllowed(f"The host name {host!r} does not resolve.") from exc
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def _is_internal(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return (
        addr.is_loopback
        or addr.is_private
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
    )


def check_url(url: str) -> str:
    """Return the URL if the server may connect to it, else raise UrlNotAllowed."""
    parts = urlsplit(url.strip())
    allow_http = settings.EXCHANGE_ALLOW_HTTP
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not allow_http):
        raise UrlNotAllowed("The EWS URL must start with https://.")
    host = parts.hostname
    if not host:
        raise UrlNotAllowed("The EWS URL has no host name.")
    if parts.username or parts.password:
        raise UrlNotAllowed("The EWS URL must not contain a user name or password.")
    internal_ok = settings.EXCHANGE_ALLOW_PRIVATE_HOSTS or host.lower() in {
        h.lower() for h in settings.EXCHANGE_INTERNAL_HOSTS
    }
    if not internal_ok:
        for addr in _addresses(host):
            if _is_internal(addr):
                raise UrlNotAllowed(
                    f"The host {host!r} is on a private or local network, which this server "
                    "is not allowed to contact."
                )
    return url.strip()
