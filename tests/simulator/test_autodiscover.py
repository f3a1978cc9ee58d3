"""SOAP autodiscover (GetUserSettings) as exchangelib uses it."""

from __future__ import annotations

import pytest
from exchangelib import BASIC, Account, Configuration, Credentials, FailFast
from exchangelib.autodiscover import AutodiscoverProtocol
from exchangelib.autodiscover.cache import autodiscover_cache
from exchangelib.errors import ErrorNonExistentMailbox


def ad_protocol(sim, user):
    return AutodiscoverProtocol(
        config=Configuration(
            service_endpoint=sim.autodiscover_url,
            credentials=Credentials(user.email, user.password),
            auth_type=BASIC,
            retry_policy=FailFast(),
        )
    )


def test_get_user_settings_returns_the_ews_url_and_display_name(sim, new_user):
    alice = new_user("alice")
    response = ad_protocol(sim, alice).get_user_settings(alice.email)
    assert response.ews_url == sim.ews_url
    assert response.user_settings["user_display_name"] == alice.name
    assert response.version.api_version == "Exchange2016"
    assert sim.log[-1].operation == "GetUserSettings"


def test_an_unknown_user_is_a_nonexistent_mailbox(sim, new_user):
    alice = new_user("alice")
    response = ad_protocol(sim, alice).get_user_settings("ghost@contoso.example")
    with pytest.raises(ErrorNonExistentMailbox):
        response.raise_errors()


def test_an_account_autodiscovers_through_a_seeded_cache(sim, new_user, tmp_path, monkeypatch):
    monkeypatch.setattr(
        "exchangelib.autodiscover.cache.AUTODISCOVER_PERSISTENT_STORAGE", str(tmp_path / "ad")
    )
    alice = new_user("alice")
    credentials = Credentials(alice.email, alice.password)
    autodiscover_cache[("contoso.example", credentials)] = ad_protocol(sim, alice)
    account = Account(alice.email, credentials=credentials, autodiscover=True)
    assert account.protocol.service_endpoint == sim.ews_url
    account.protocol.config.auth_type = BASIC
    assert account.calendar.name == "Calendar"
