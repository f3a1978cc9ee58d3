"""The guard in front of every server address a staff member types in.

The connect form makes this server open connections to a URL of the user's choosing, which
would let anyone with a staff login probe the internal network (SSRF). So: https only, and
no host that resolves to anything but public unicast addresses (loopback, private, carrier
NAT, link-local, multicast, reserved..., also inside IPv6 forms that carry an IPv4 address),
unless settings allow it: EXCHANGE_INTERNAL_HOSTS names on-premises servers an IT department
trusts (mail.corp.local), EXCHANGE_ALLOW_PRIVATE_HOSTS opens everything (the simulator on
127.0.0.1 in the demo and tests). `check_url` vets a URL when it is typed in;
`allowed_addresses` vets every connection again when it is opened (calendars/transport.py).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Literal
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from calendars.errors import UrlNotAllowed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class HostNotFound(UrlNotAllowed):
    """The name does not resolve. When saving a URL that is the user's typo; for a connection
    to a saved URL it is a network problem (DNS down), which the transport reports as such."""


# The well-known NAT64 prefix (RFC 6052): the IPv4 destination is the last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Not globally reachable in IANA's special-purpose registries, but global to is_global before
# Python 3.11.10 (the update of gh-113171), so that every 3.11 release decides alike.
_NOT_GLOBAL = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("3fff::/20"))


def _addresses(host: str) -> list[IPAddress]:
    """Every address the host name resolves to, once each, in the resolver's order (the order
    a connection tries them in)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise HostNotFound(
            # Translators: %(host)s is the host name, in quotes.
            gettext("The host name %(host)s does not resolve.") % {"host": repr(host)}
        ) from exc
    found = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    return list(dict.fromkeys(found))


def _is_internal(addr: IPAddress) -> bool:
    """Whether the address is anything but a public unicast one, looking through the IPv6
    forms that carry an IPv4 destination (mapped, NAT64, 6to4, Teredo): 6to4 of 127.0.0.1 or
    NAT64 of the cloud metadata address lands exactly where the plain IPv4 would."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped:
            return _is_internal(addr.ipv4_mapped)
        if addr in _NAT64:
            return _is_internal(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
        if addr.sixtofour:
            # A relay carries it to the embedded IPv4 address: that is where it lands. (Newer
            # Pythons call all of 2002::/16 not global; the destination decides here.)
            return _is_internal(addr.sixtofour)
        if addr.teredo and any(_is_internal(a) for a in addr.teredo):
            return True
        if addr.is_site_local:
            return True
    # is_global is IANA's special-purpose registry: it refuses shared address space
    # (100.64.0.0/10: carrier NAT, Alibaba's metadata at 100.100.100.200), benchmarking,
    # documentation and the rest the older is_private list let through. Multicast and
    # reserved (unallocated) ranges count as global there; we never want them either.
    return (
        not addr.is_global
        or addr.is_multicast
        or addr.is_reserved
        or any(addr in net for net in _NOT_GLOBAL if net.version == addr.version)
    )


def _private_hosts_allowed(host: str) -> bool:
    return settings.EXCHANGE_ALLOW_PRIVATE_HOSTS or host.lower() in {
        h.lower() for h in settings.EXCHANGE_INTERNAL_HOSTS
    }


def allowed_addresses(scheme: str, host: str) -> list[IPAddress]:
    """Resolve the host once and return the addresses the server may connect to, or raise
    UrlNotAllowed. The pinning transport (calendars/transport.py) calls this for every new
    connection and connects to these very addresses, so a DNS server that answers the guard
    with a public address and the connection with 127.0.0.1 (DNS rebinding) gets nowhere. The
    settings are read on every call: turning EXCHANGE_ALLOW_PRIVATE_HOSTS off applies to the
    next connection."""
    if scheme not in ("https", "http") or (scheme == "http" and not settings.EXCHANGE_ALLOW_HTTP):
        raise UrlNotAllowed(
            # Translators: %(host)s is the host name, in quotes.
            gettext(
                "The server %(host)s must be reached over https://, which this server requires."
            )
            % {"host": repr(host)}
        )
    addresses = _addresses(host)
    if not _private_hosts_allowed(host) and any(_is_internal(a) for a in addresses):
        raise UrlNotAllowed(
            # Translators: %(host)s is the host name, in quotes.
            gettext(
                "The host %(host)s is on a private or local network, which this server "
                "is not allowed to contact."
            )
            % {"host": repr(host)}
        )
    return addresses


# What check_url refuses, in whole sentences for each kind of address it vets.
_REFUSALS = {
    "ews": {
        "invalid": _("The EWS URL is not a valid address."),
        "scheme": _("The EWS URL must start with https://."),
        "host": _("The EWS URL has no host name."),
        "credentials": _("The EWS URL must not contain a user name or password."),
    },
    "endpoint": {
        "invalid": _("The endpoint URL is not a valid address."),
        "scheme": _("The endpoint URL must start with https://."),
        "host": _("The endpoint URL has no host name."),
        "credentials": _("The endpoint URL must not contain a user name or password."),
    },
    "authority": {
        "invalid": _("The OAuth authority is not a valid address."),
        "scheme": _("The OAuth authority must start with https://."),
        "host": _("The OAuth authority has no host name."),
        "credentials": _("The OAuth authority must not contain a user name or password."),
    },
}


def check_url(url: str, *, what: Literal["ews", "endpoint", "authority"] = "ews") -> str:
    """Return the URL if the server may connect to it, else raise UrlNotAllowed; `what` is
    the address being vetted, which the messages name: an EWS URL, a webhook endpoint or an
    OAuth authority."""
    refusals = _REFUSALS[what]
    try:
        # urlsplit refuses brackets around anything but an IPv6 address (https://[127.0.0.1]/,
        # which an Autodiscover URL built from x@[127.0.0.1] is); .port a port out of range.
        parts = urlsplit(url.strip())
        host, _port = parts.hostname, parts.port
    except ValueError:
        raise UrlNotAllowed(refusals["invalid"]) from None
    allow_http = settings.EXCHANGE_ALLOW_HTTP
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not allow_http):
        raise UrlNotAllowed(refusals["scheme"])
    if not host:
        raise UrlNotAllowed(refusals["host"])
    if parts.username or parts.password:
        raise UrlNotAllowed(refusals["credentials"])
    allowed_addresses(parts.scheme, host)  # the rule every connection is held to
    return url.strip()
