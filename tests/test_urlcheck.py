"""The SSRF guard in front of staff-entered EWS URLs."""

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
