"""Who the client is behind reverse proxies (scheduler_site/clientip.py): X-Forwarded-For and
X-Forwarded-Proto count only when the socket peer is one of TRUSTED_PROXIES."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from scheduler_site.clientip import ForwardedHeadersMiddleware, client_ip

NGINX = "10.0.0.5"


def request(peer: str, forwarded_for: str | None = None, **meta: str) -> HttpRequest:
    if forwarded_for is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return RequestFactory().get("/", REMOTE_ADDR=peer, **meta)


@pytest.fixture
def behind_nginx(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXIES = [f"{NGINX}/32"]


def test_without_trusted_proxies_the_socket_peer_is_the_client(settings) -> None:
    settings.TRUSTED_PROXIES = []
    assert client_ip(request("203.0.113.7")) == "203.0.113.7"
    assert client_ip(request("203.0.113.7", "198.51.100.1")) == "203.0.113.7"


def test_a_client_reaching_the_app_directly_cannot_claim_another_address(behind_nginx) -> None:
    # Not from nginx, so the header is the client's own invention.
    assert client_ip(request("203.0.113.7", "198.51.100.1, 10.0.0.5")) == "203.0.113.7"


def test_behind_a_trusted_proxy_the_address_it_saw_is_the_client(behind_nginx) -> None:
    assert client_ip(request(NGINX, "203.0.113.7")) == "203.0.113.7"


def test_addresses_the_client_put_in_front_of_the_proxys_entry_are_ignored(behind_nginx) -> None:
    # nginx's $proxy_add_x_forwarded_for keeps what the client sent and appends what it saw.
    spoofed = request(NGINX, "198.51.100.1, 192.0.2.99, 203.0.113.7")
    assert client_ip(spoofed) == "203.0.113.7"


def test_several_trusted_hops_are_walked_from_the_right(settings) -> None:
    # A CDN edge in front of nginx: both trusted, the client is the first address neither.
    settings.TRUSTED_PROXIES = [f"{NGINX}/32", "192.0.2.0/24"]
    forwarded = request(NGINX, "198.51.100.1, 203.0.113.7, 192.0.2.10")
    assert client_ip(forwarded) == "203.0.113.7"


def test_when_every_hop_is_trusted_the_left_most_one_is_the_client(settings) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(request(NGINX, "10.1.2.3")) == "10.1.2.3"


def test_a_trusted_proxy_sending_no_header_is_itself_the_client(behind_nginx) -> None:
    assert client_ip(request(NGINX)) == NGINX


def test_garbage_where_the_proxys_entry_should_be_cannot_choose_an_identity(behind_nginx) -> None:
    # A proxy that passes the client's header on unchanged: the client wrote all of it.
    assert client_ip(request(NGINX, "203.0.113.7, not-an-address")) == NGINX


def test_ipv6_peers_proxies_and_clients(settings) -> None:
    settings.TRUSTED_PROXIES = ["::1/128", "2001:db8:aaaa::/48"]
    assert client_ip(request("::1", "2001:db8:ffff::42")) == "2001:db8:ffff::42"
    assert client_ip(request("::1", "2001:db8:ffff::42, 2001:db8:aaaa::1")) == "2001:db8:ffff::42"
    assert client_ip(request("2001:db8:ffff::42", "2001:db8:1::1")) == "2001:db8:ffff::42"


def test_ipv4_peers_on_a_dual_stack_socket_match_ipv4_proxies(settings) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    assert client_ip(request("::ffff:127.0.0.1", "203.0.113.7")) == "203.0.113.7"
    assert client_ip(request("::ffff:203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_entries_with_ports_are_understood(behind_nginx) -> None:
    assert client_ip(request(NGINX, "203.0.113.7:51234")) == "203.0.113.7"
    assert client_ip(request(NGINX, "[2001:db8::7]:443")) == "2001:db8::7"


def test_forwarded_headers_from_an_untrusted_peer_never_reach_the_app(behind_nginx) -> None:
    seen: list[HttpRequest] = []

    def view(req: HttpRequest) -> HttpResponse:
        seen.append(req)
        return HttpResponse()

    middleware = ForwardedHeadersMiddleware(view)
    headers = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "evil.example"}
    middleware(request("203.0.113.7", "198.51.100.1", **headers))
    middleware(request(NGINX, "203.0.113.7", **headers))

    untrusted, trusted = seen
    assert not untrusted.is_secure()
    assert "HTTP_X_FORWARDED_FOR" not in untrusted.META
    assert "HTTP_X_FORWARDED_HOST" not in untrusted.META
    assert trusted.is_secure()
    assert trusted.META["HTTP_X_FORWARDED_FOR"] == "203.0.113.7"


@pytest.mark.django_db
def test_only_a_trusted_proxy_can_tell_django_the_request_was_https(behind_nginx, settings) -> None:
    settings.SECURE_SSL_REDIRECT = True
    # Straight to the app server, claiming HTTPS: Django still sees plain http and redirects.
    direct = Client(REMOTE_ADDR="203.0.113.7").get("/", headers={"X-Forwarded-Proto": "https"})
    assert direct.status_code == 301
    assert direct["Location"].startswith("https://")
    # Through nginx, which terminated TLS.
    proxied = Client(REMOTE_ADDR=NGINX).get("/", headers={"X-Forwarded-Proto": "https"})
    assert proxied.status_code == 200
