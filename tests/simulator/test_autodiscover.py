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


# --- Autodiscover v2 (JSON) ---------------------------------------------------------------


def v2(sim, email, protocol="EWS"):
    import requests

    return requests.get(
        f"{sim.base_url}/autodiscover/autodiscover.json/v1.0/{email}",
        params={"Protocol": protocol},
        timeout=10,
    )


def test_autodiscover_v2_names_where_each_mailbox_lives(sim, new_user):
    on_premises, cloud = new_user("onprem"), new_user("cloud")
    with sim.store.lock:
        sim.store.mailbox(on_premises.email).on_premises = True
    answer = v2(sim, on_premises.email)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json() == {"Protocol": "EWS", "Url": sim.ews_url}
    assert v2(sim, cloud.email).json() == {
        "Protocol": "EWS",
        "Url": "https://outlook.office365.com/EWS/Exchange.asmx",
    }
    entry = sim.log[-1]
    assert (entry.operation, entry.target, entry.caller) == ("AutodiscoverJson", cloud.email, None)


def test_autodiscover_v2_older_spelling_and_refusals(sim, new_user):
    import requests

    user = new_user("alice")
    with sim.store.lock:
        sim.store.mailbox(user.email).on_premises = True
    older = requests.get(
        f"{sim.base_url}/autodiscover/autodiscover.json",
        params={"Email": user.email, "Protocol": "ews"},
        timeout=10,
    )
    assert older.json()["Url"] == sim.ews_url
    # An address nobody knows is not told apart (Exchange Online's front door).
    assert v2(sim, "ghost@contoso.example").json()["Url"].startswith("https://outlook.office365")
    refused = v2(sim, user.email, protocol="Smoke")
    assert refused.status_code == 400
    assert refused.json()["ErrorCode"] == "InvalidProtocol"


def test_autodiscover_v2_honours_the_http_faults(sim, new_user):
    user = new_user("alice")
    sim.fail_http(503, count=1)
    assert v2(sim, user.email).status_code == 503
    assert v2(sim, user.email).status_code == 200
