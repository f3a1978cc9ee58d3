"""Who is asking: the client's IP address, believing X-Forwarded-* only from trusted proxies.

The socket peer (REMOTE_ADDR; gunicorn never rewrites it) is the client unless it is one of
TRUSTED_PROXIES. Then X-Forwarded-For is read from the right, where our own proxies appended
what they saw, skipping every trusted address; the first one that isn't trusted is the client.
Everything to the left of it was written by the client and proves nothing.

django-ipware (python-ipware) was considered: its proxy list is checked against addresses
*inside* X-Forwarded-For, positionally (one entry per hop), not against the socket peer, so
a client connecting directly can forge a chain that passes, and nginx's usual
`$proxy_add_x_forwarded_for` (which never puts nginx itself in the header) can't match it.
The rule above is a dozen lines with the standard library.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """TRUSTED_PROXIES entries as networks ("10.0.0.5" is 10.0.0.5/32); ValueError if bad."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(entries)


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("["):  # "[2001:db8::1]:443", as some proxies write IPv6 with a port
        text = text[1 : text.find("]")]
    elif text.count(":") == 1:  # "203.0.113.7:51234"
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; they are the IPv4 address.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: Address | None) -> bool:
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    return address is not None and any(address in network for network in networks)


def peer_is_trusted_proxy(request: HttpRequest) -> bool:
    return _trusted(_address(request.META.get("REMOTE_ADDR", "")))


def client_ip(request: HttpRequest) -> str:
    """The client's address for rate limits and sign-in throttling (also axes' callable)."""
    peer = _address(request.META.get("REMOTE_ADDR", ""))
    if peer is None:
        return "unknown"
    if not _trusted(peer):
        return str(peer)
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    client = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            # Garbage where a trusted proxy's entry should be: the last address a trusted
            # hop vouched for is the best we know, and the client can't choose it.
            break
        client = address
        if not _trusted(address):
            break
    return str(client)


# Request headers that only mean something when our own proxy wrote them.
FORWARDED_HEADERS = (
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_FORWARDED",
)


class ForwardedHeadersMiddleware:
    """Drop X-Forwarded-* (and Forwarded) unless the socket peer is a trusted proxy.

    Django trusts X-Forwarded-Proto for request.is_secure() (SECURE_PROXY_SSL_HEADER), which
    decides HTTPS redirects and secure cookies; without this a client reaching the app server
    directly could claim HTTPS. Must run before SecurityMiddleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not peer_is_trusted_proxy(request):
            for name in FORWARDED_HEADERS:
                request.META.pop(name, None)
        return self.get_response(request)


def axes_client_ip(request: HttpRequest) -> str | None:
    """axes stores the address in an IP column (inet on PostgreSQL), which refuses "unknown":
    a request with no socket peer (Django's force_login in tests, some management paths) is
    recorded without one."""
    ip = client_ip(request)
    return None if ip == "unknown" else ip
