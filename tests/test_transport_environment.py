"""The transport reads proxy settings from the environment once per host (a CPU saving on
every EWS request) and still honours them exactly as requests does."""

from __future__ import annotations

import pytest
import requests

from calendars.transport import remember_environment


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.contoso.example:3128")
    monkeypatch.setenv("NO_PROXY", "mail.internal.example")


def settings_for(url: str, http: requests.Session) -> dict:
    return http.merge_environment_settings(url, {}, None, None, None)


@pytest.mark.usefixtures("proxied")
def test_it_finds_the_same_proxies_as_requests_for_every_host() -> None:
    plain, remembering = requests.Session(), remember_environment(requests.Session())
    for url in (
        "https://mail.contoso.example/EWS/Exchange.asmx",
        "https://mail.internal.example/EWS/Exchange.asmx",
        "https://login.microsoftonline.com/common/oauth2/v2.0/token",
    ):
        assert settings_for(url, remembering) == settings_for(url, plain)
    proxies = settings_for("https://mail.contoso.example/x", remembering)["proxies"]
    assert proxies["https"] == "http://proxy.contoso.example:3128"
    assert "https" not in settings_for("https://mail.internal.example/x", remembering)["proxies"]


def test_it_reads_the_environment_once_per_host(proxied, monkeypatch) -> None:
    remembering = remember_environment(requests.Session())
    url = "https://mail.contoso.example/EWS/Exchange.asmx"
    first = settings_for(url, remembering)
    # A caller changing the answer it got doesn't change the next one.
    first["proxies"]["https"] = "http://elsewhere.example"
    calls = []
    monkeypatch.setattr(requests.sessions, "get_environ_proxies", lambda *a: calls.append(a))
    again = settings_for(url, remembering)["proxies"]
    assert again["https"] == "http://proxy.contoso.example:3128"
    assert calls == []
