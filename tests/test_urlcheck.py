"""The SSRF guard in front of staff-entered EWS URLs."""

import socket
from typing import Any

import pytest
from django.test import override_settings

from calendars.errors import UrlNotAllowed
from calendars.urlcheck import check_url

STRICT = {
    "EXCHANGE_ALLOW_HTTP": False,
    "EXCHANGE_ALLOW_PRIVATE_HOSTS": False,
    "EXCHANGE_INTERNAL_HOSTS": [],
}


@override_settings(**STRICT)
@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/EWS/Exchange.asmx",
        "https://localhost/EWS/Exchange.asmx",
        "https://10.1.2.3/EWS/Exchange.asmx",
        "https://192.168.0.10/EWS/Exchange.asmx",
        "https://172.16.5.5/EWS/Exchange.asmx",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/EWS/Exchange.asmx",
        "https://[fe80::1]/EWS/Exchange.asmx",
        "https://[::ffff:127.0.0.1]/EWS/Exchange.asmx",
        "https://0.0.0.0/EWS/Exchange.asmx",
    ],
)
def test_it_refuses_hosts_on_internal_networks(url: str) -> None:
    with pytest.raises(UrlNotAllowed, match="private or local network"):
        check_url(url)


@override_settings(**STRICT)
@pytest.mark.parametrize(
    "address",
    [
        "100.100.100.200",  # Alibaba Cloud's metadata service
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "100.127.255.254",
        "198.18.0.1",  # benchmarking
        "192.0.0.8",  # IETF protocol assignments
        "192.0.2.1",  # documentation
        "224.0.0.1",  # multicast
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "::ffff:100.100.100.200",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2002:0a00:0001::",  # 6to4 of 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::a9fe:a9fe",  # local-use NAT64 prefix
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "fec0::1",  # site-local
        "fc00::1",  # unique local
        "ff02::1",  # multicast
        "2001:db8::1",  # documentation
        "3fff::1",  # documentation (since 2024)
        "::",
    ],
)
def test_it_refuses_every_address_that_is_not_public(address: str) -> None:
    with pytest.raises(UrlNotAllowed, match="private or local network"):
        check_url(f"https://[{address}]/EWS/" if ":" in address else f"https://{address}/EWS/")


@override_settings(**STRICT)
@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "2606:4700::1111",
        "::ffff:93.184.216.34",  # IPv4-mapped public address
        "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34 (an IPv6-only network with DNS64)
        "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
    ],
)
def test_it_accepts_public_addresses_in_every_form(address: str) -> None:
    url = f"https://[{address}]/EWS/" if ":" in address else f"https://{address}/EWS/"
    assert check_url(url) == url


@override_settings(**STRICT)
def test_it_refuses_a_name_when_any_of_its_addresses_is_private(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "mixed.test":
            return real("93.184.216.34", port, *args, **kwargs) + real(
                "100.100.100.200", port, *args, **kwargs
            )
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(UrlNotAllowed, match="private or local network"):
        check_url("https://mixed.test/EWS/Exchange.asmx")


@override_settings(**STRICT)
def test_it_refuses_plain_http() -> None:
    with pytest.raises(UrlNotAllowed, match="must start with https"):
        check_url("http://mail.example.com/EWS/Exchange.asmx")


@override_settings(**STRICT)
@pytest.mark.parametrize("url", ["ftp://mail.example.com/x", "file:///etc/passwd", "mail"])
def test_it_refuses_other_schemes(url: str) -> None:
    with pytest.raises(UrlNotAllowed):
        check_url(url)


@override_settings(**STRICT)
def test_it_refuses_credentials_in_the_url() -> None:
    with pytest.raises(UrlNotAllowed, match="user name or password"):
        check_url("https://user:secret@93.184.216.34/EWS/Exchange.asmx")


@override_settings(**STRICT)
def test_it_refuses_a_host_that_does_not_resolve() -> None:
    with pytest.raises(UrlNotAllowed, match="does not resolve"):
        check_url("https://no-such-host.invalid/EWS/Exchange.asmx")


@override_settings(**STRICT)
def test_it_accepts_a_public_https_address() -> None:
    url = "https://93.184.216.34/EWS/Exchange.asmx"
    assert check_url(url) == url


@override_settings(**{**STRICT, "EXCHANGE_INTERNAL_HOSTS": ["127.0.0.1"]})
def test_it_accepts_an_internal_host_the_admin_listed() -> None:
    assert check_url("https://127.0.0.1/EWS/Exchange.asmx")


@override_settings(EXCHANGE_ALLOW_HTTP=True, EXCHANGE_ALLOW_PRIVATE_HOSTS=True)
def test_the_simulator_settings_allow_plain_http_on_loopback() -> None:
    assert check_url("http://127.0.0.1:8765/EWS/Exchange.asmx")


@override_settings(**STRICT)
@pytest.mark.parametrize(
    "url",
    [
        "https://[127.0.0.1]/EWS/Exchange.asmx",  # brackets only hold IPv6: urlsplit refuses
        "https://autodiscover.[10.0.0.1]/autodiscover/autodiscover.svc",
        "https://[::1/EWS/Exchange.asmx",
        "https://mail.contoso.example:99999/EWS/Exchange.asmx",  # .port refuses
        "https://mail.contoso.example:ews/EWS/Exchange.asmx",
    ],
)
def test_it_refuses_a_url_python_cannot_take_apart(url: str) -> None:
    with pytest.raises(UrlNotAllowed, match="not a valid address"):
        check_url(url)


@override_settings(EXCHANGE_ALLOW_HTTP=True, EXCHANGE_ALLOW_PRIVATE_HOSTS=True)
def test_it_refuses_a_url_python_cannot_take_apart_even_where_private_hosts_are_allowed() -> None:
    with pytest.raises(UrlNotAllowed, match="not a valid address"):
        check_url("http://[127.0.0.1]:8765/EWS/Exchange.asmx")
