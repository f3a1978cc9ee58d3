"""Django admin's connection form applies the same SSRF guard as the staff forms: the EWS URL
and the OAuth authority must be https (unless allowed) and on a public address (unless
allowed), or "Test connection" would send the stored secret wherever an admin pointed it."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from calendars.models import AuthType, ConnectionKind, ExchangeConnection

pytestmark = pytest.mark.django_db

ADD = reverse("admin:calendars_exchangeconnection_add")
PUBLIC_EWS = "https://93.184.216.34/EWS/Exchange.asmx"  # an address literal: no DNS involved
PRIVATE_EWS = "https://127.0.0.1/EWS/Exchange.asmx"


@pytest.fixture
def guarded(settings: Settings) -> Settings:
    settings.EXCHANGE_ALLOW_HTTP = False
    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = False
    settings.EXCHANGE_INTERNAL_HOSTS = []
    return settings


@pytest.fixture
def admin(django_user_model: type[User]) -> Client:
    client = Client()
    client.force_login(
        django_user_model.objects.create_superuser("root", "root@contoso.example", "pw")
    )
    return client


def corporate_form(**fields: str) -> dict[str, str]:
    return {
        "kind": ConnectionKind.CORPORATE,
        "user": "",
        "email": "booking-sync@contoso.example",
        "username": "",
        "ews_url": PUBLIC_EWS,
        "auth_type": AuthType.BASIC,
        "exchange_version": "auto",
        "oauth_tenant": "",
        "oauth_authority": "",
        "oauth_client_id": "",
        "oauth_client_secret_expires_on": "",
        "new_secret": "the-corporate-password",
        **fields,
    }


def field_errors(response: Any, name: str) -> list[str]:
    return list(response.context["adminform"].form.errors.get(name, []))


def test_an_allowed_ews_url_is_saved(admin: Client, guarded: Settings) -> None:
    response = admin.post(ADD, corporate_form())

    assert response.status_code == 302
    assert ExchangeConnection.objects.get().ews_url == PUBLIC_EWS


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (PRIVATE_EWS, "on a private or local network"),
        ("https://10.0.0.5/EWS/Exchange.asmx", "on a private or local network"),
        ("https://169.254.169.254/latest/meta-data/", "on a private or local network"),
        ("http://93.184.216.34/EWS/Exchange.asmx", "must start with https://"),
        ("https://user:pw@93.184.216.34/EWS/Exchange.asmx", "must not contain a user name"),
    ],
)
def test_the_add_form_refuses_an_ews_url_the_guard_refuses(
    admin: Client, guarded: Settings, url: str, message: str
) -> None:
    response = admin.post(ADD, corporate_form(ews_url=url))

    assert response.status_code == 200
    assert any(message in error for error in field_errors(response, "ews_url"))
    assert not ExchangeConnection.objects.exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://127.0.0.1/tenant", "The host '127.0.0.1' is on a private or local network"),
        ("http://93.184.216.34/tenant", "The OAuth authority must start with https://"),
    ],
)
def test_the_add_form_refuses_an_oauth_authority_the_guard_refuses(
    admin: Client, guarded: Settings, url: str, message: str
) -> None:
    response = admin.post(
        ADD,
        corporate_form(
            auth_type=AuthType.OAUTH_APP,
            oauth_client_id="0b7d2c3e-1111-2222-3333-444455556666",
            oauth_authority=url,
        ),
    )

    assert response.status_code == 200
    assert any(message in error for error in field_errors(response, "oauth_authority"))
    assert not ExchangeConnection.objects.exists()


def test_the_change_form_refuses_a_private_ews_url_and_keeps_the_stored_one(
    admin: Client, guarded: Settings
) -> None:
    conn = ExchangeConnection.objects.create(
        kind=ConnectionKind.CORPORATE,
        email="booking-sync@contoso.example",
        ews_url=PUBLIC_EWS,
        password="the-corporate-password",
    )
    change = reverse("admin:calendars_exchangeconnection_change", args=[conn.pk])
    page = admin.get(change)
    data = corporate_form(ews_url=PRIVATE_EWS, new_secret="")
    for inline in page.context["inline_admin_formsets"]:  # none of them has rows yet
        prefix = inline.formset.prefix
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}

    refused = admin.post(change, data)
    accepted = admin.post(change, data | {"ews_url": "https://93.184.216.35/EWS/Exchange.asmx"})

    assert refused.status_code == 200
    assert any("private or local network" in e for e in field_errors(refused, "ews_url"))
    assert accepted.status_code == 302
    conn.refresh_from_db()
    assert conn.ews_url == "https://93.184.216.35/EWS/Exchange.asmx"


def test_private_hosts_and_http_are_accepted_where_settings_allow_them(
    admin: Client, guarded: Settings
) -> None:
    guarded.EXCHANGE_ALLOW_HTTP = True
    guarded.EXCHANGE_INTERNAL_HOSTS = ["127.0.0.1"]

    response = admin.post(ADD, corporate_form(ews_url="http://127.0.0.1:8765/EWS/Exchange.asmx"))

    assert response.status_code == 302
    assert ExchangeConnection.objects.get().ews_url == "http://127.0.0.1:8765/EWS/Exchange.asmx"
