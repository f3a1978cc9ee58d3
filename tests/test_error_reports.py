"""Error reports (what AdminEmailHandler mails to ADMINS on a 500) never carry a secret: not
the password, client secret or token a view was handling, not the Redis, database or SMTP
passwords inside the settings' URLs. Each test forces an error inside a view that holds a
secret and renders the report exactly as Django's error mail does (text), plus the HTML
version (which also lists every frame's local variables)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User, UserManager
from django.core import mail
from django.db import OperationalError
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.views.debug import ExceptionReporter
from pytest_django.fixtures import Settings

from calendars import views
from calendars.models import AuthType, ConnectionKind, ExchangeConnection
from calendars.simulator.idp import IdentityProvider
from scheduler_site.reporting import mask_url_passwords

pytestmark = pytest.mark.django_db

REDIS_PASSWORD = "redis-pw-3f9a0c"
BROKER_PASSWORD = "broker-pw-81d2e4"
DB_PASSWORD = "db-pw-77c1b5"
SMTP_PASSWORD = "smtp-pw-51e0aa"
AMQP_PASSWORD = "amqp-pw-c4f7d9"
SETTINGS_SECRETS = (REDIS_PASSWORD, BROKER_PASSWORD, DB_PASSWORD, SMTP_PASSWORD, AMQP_PASSWORD)

TYPED = "Typed-Exchange-Pa55word!"
PUBLIC_EWS = "https://93.184.216.34/EWS/Exchange.asmx"  # an address literal: no DNS involved
# The personal form with the server details shown, so no Autodiscover runs first.
PERSONAL_FORM = {
    "email": "alice@contoso.example",
    "password": TYPED,
    "ews_url": PUBLIC_EWS,
    "details": "1",
}

# What runserver's WSGI environ holds (the whole process environment): request.META.
ENVIRON = {
    "DATABASE_URL": f"postgres://scheduler:{DB_PASSWORD}@db.internal:5432/scheduler",
    "REDIS_URL": f"redis://:{REDIS_PASSWORD}@redis.internal:6379/0",
}


@pytest.fixture
def secret_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Production-like settings whose URLs carry passwords."""
    settings.DEBUG = False
    settings.REDIS_URL = f"redis://:{REDIS_PASSWORD}@redis.internal:6379/0"
    settings.CELERY_BROKER_URL = f"redis://default:{BROKER_PASSWORD}@redis.internal:6379/1"
    # A local-memory cache whatever the run uses, so nothing tries to reach this Redis.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"redis://:{REDIS_PASSWORD}@redis.internal:6379/0",
        }
    }
    settings.EMAIL_URL = f"smtp+tls://mailer:{SMTP_PASSWORD}@smtp.example.com:587"
    settings.EMAIL_HOST_PASSWORD = SMTP_PASSWORD
    settings.EMAIL_CONFIG = {"EMAIL_HOST_PASSWORD": SMTP_PASSWORD}
    settings.SOME_QUEUES = {"billing": [f"amqp://app:{AMQP_PASSWORD}@mq.internal:5672//"]}
    # The report only reads DATABASES; overriding it through the settings fixture warns
    # (Django can't swap live connections), and replacing the attribute doesn't touch them.
    databases = {
        **django_settings.DATABASES,
        "default": {**django_settings.DATABASES["default"], "PASSWORD": DB_PASSWORD},
        "replica": {"ENGINE": "django.db.backends.postgresql", "URL": ENVIRON["DATABASE_URL"]},
    }
    monkeypatch.setattr(django_settings, "DATABASES", databases)
    return settings


def reports(response: HttpResponse) -> str:
    """The error mail's text and the HTML report of the 500 this response answered."""
    assert response.status_code == 500
    assert response.exc_info, "the view did not fail"
    reporter = ExceptionReporter(response.wsgi_request, *response.exc_info, is_email=True)
    return reporter.get_traceback_text() + reporter.get_traceback_html()


def assert_no_secret(report: str, *secrets: str) -> None:
    for secret in (*secrets, *SETTINGS_SECRETS, *django_settings.FERNET_KEYS):
        assert secret not in report
    assert django_settings.SECRET_KEY not in report
    # The report is still useful: the error, and the hosts with their passwords masked.
    assert "RuntimeError" in report or "OperationalError" in report
    assert "redis://:********************@redis.internal:6379/0" in report


def failing_client(user: User) -> Client:
    client = Client(raise_request_exception=False, **ENVIRON)
    client.force_login(user)
    return client


def broken(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("the Exchange client broke")


@pytest.fixture
def alice(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user("alice", "alice@contoso.example", "alice-pw")


@pytest.fixture
def root(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_superuser("root", "root@contoso.example", "root-pw")


# --- the filter on its own ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:secret@host:6379/0", "redis://:********@host:6379/0"),
        ("postgres://user:pa/ss@w@db:5432/x", "postgres://user:********@db:5432/x"),
        (
            "smtp+tls://u%40x:pw@smtp.example.com:587",
            "smtp+tls://u%40x:********@smtp.example.com:587",
        ),
        ("failed: redis://:pw@host: refused", "failed: redis://:********@host: refused"),
        ("https://mail.example.com:8443/EWS/", "https://mail.example.com:8443/EWS/"),
        ("redis://host/0", "redis://host/0"),
    ],
)
def test_passwords_inside_urls_are_masked_and_the_rest_kept(url: str, masked: str) -> None:
    assert mask_url_passwords(url) == masked


def test_settings_show_without_the_passwords_in_their_urls(
    secret_settings: Settings, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("calendars.connect.connection_for", broken)

    report = reports(failing_client(alice).get("/dashboard/"))

    assert_no_secret(report)
    assert "redis://default:********************@redis.internal:6379/1" in report
    assert "postgres://scheduler:********************@db.internal:5432/scheduler" in report
    assert "amqp://app:********************@mq.internal:5672//" in report


def test_the_mail_to_admins_carries_no_secret(
    secret_settings: Settings, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_settings.ADMINS = [("Admin", "admin@contoso.example")]
    monkeypatch.setattr("calendars.connect.backend_for", broken)

    failing_client(alice).post("/connection/personal/", PERSONAL_FORM)

    [message] = mail.outbox
    assert "the Exchange client broke" in message.body
    assert "password = '********************'" in message.body
    assert_no_secret(message.subject + message.body, TYPED)


# --- staff connection views ---------------------------------------------------------------


def test_a_failing_personal_connection_reports_no_typed_password(
    secret_settings: Settings, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("calendars.connect.backend_for", broken)

    response = failing_client(alice).post("/connection/personal/", PERSONAL_FORM)

    report = reports(response)
    assert_no_secret(report, TYPED)
    assert "connect_personal" in report  # the traceback itself is all there


def test_a_personal_connection_failing_anywhere_below_the_view_reports_no_password(
    secret_settings: Settings, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Replaced, so the error is raised in a frame that holds the password under its own name.
    def failing_connect(user: User, details: Any) -> None:
        password = details.password  # noqa: F841 (a local a traceback would show)
        raise RuntimeError("connect failed")

    monkeypatch.setattr("calendars.connect.connect_personal", failing_connect)

    response = failing_client(alice).post("/connection/personal/", PERSONAL_FORM)

    assert_no_secret(reports(response), TYPED)


CLIENT_ID = "5e0c7a11-aaaa-bbbb-cccc-ddddeeeeffff"
CLIENT_SECRET = "web-app-client-secret-9d8e"
CALLBACK = "http://localhost:8000/connection/microsoft/callback/"


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    with IdentityProvider() as provider:
        provider.register_application(CLIENT_ID, CLIENT_SECRET, redirect_uris=[CALLBACK])
        provider.register_user("megan@contoso.example", "megan-pw")
        yield provider


@pytest.fixture
def microsoft(secret_settings: Settings, idp: IdentityProvider) -> IdentityProvider:
    secret_settings.SITE_URL = "http://localhost:8000"
    secret_settings.MICROSOFT_CLIENT_ID = CLIENT_ID
    secret_settings.MICROSOFT_CLIENT_SECRET = CLIENT_SECRET
    secret_settings.MICROSOFT_AUTHORITY = idp.authority
    secret_settings.EXCHANGE_CA_BUNDLE = str(idp.ca_cert_path)
    secret_settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = True
    return idp


def test_a_microsoft_sign_in_failing_to_start_reports_no_verifier_or_client_secret(
    microsoft: IdentityProvider, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    flows: list[dict[str, Any]] = []
    start = views._start_microsoft_sign_in

    def started(*args: Any) -> dict[str, Any]:
        flows.append(start(*args))
        return flows[-1]

    monkeypatch.setattr(views, "_start_microsoft_sign_in", started)
    monkeypatch.setattr(views, "redirect", broken)  # fails once the flow is in hand

    response = failing_client(alice).post("/connection/microsoft/")

    report = reports(response)
    assert flows and flows[0]["code_verifier"]
    assert_no_secret(report, flows[0]["code_verifier"], CLIENT_SECRET)


def test_a_failing_microsoft_callback_reports_no_token_verifier_or_client_secret(
    microsoft: IdentityProvider, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = failing_client(alice)
    auth_uri = client.post("/connection/microsoft/")["Location"]
    verifier = client.session[views.MICROSOFT_FLOW]["code_verifier"]
    answer = microsoft.sign_in(auth_uri, "megan@contoso.example", "megan-pw")
    refresh_tokens: list[str] = []

    def failing_connect(user: User, email: str, refresh_token: str) -> None:
        refresh_tokens.append(refresh_token)
        raise RuntimeError("saving the connection failed")

    monkeypatch.setattr("calendars.connect.connect_microsoft", failing_connect)

    response = client.get(reverse("connection-microsoft-callback"), answer)

    report = reports(response)
    assert refresh_tokens and refresh_tokens[0]
    assert_no_secret(report, refresh_tokens[0], verifier, CLIENT_SECRET)


# --- Django admin: the connection form and the rotation -----------------------------------


def test_a_failing_admin_add_reports_no_typed_secret(
    secret_settings: Settings, root: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ExchangeConnection, "save", broken)

    response = failing_client(root).post(
        reverse("admin:calendars_exchangeconnection_add"),
        {
            "kind": ConnectionKind.CORPORATE,
            "email": "booking-sync@contoso.example",
            "ews_url": PUBLIC_EWS,
            "auth_type": AuthType.BASIC,
            "exchange_version": "auto",
            "new_secret": TYPED,
        },
    )

    assert_no_secret(reports(response), TYPED)


def test_a_failing_rotation_reports_no_new_password(
    secret_settings: Settings, root: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = ExchangeConnection.objects.create(
        kind=ConnectionKind.CORPORATE,
        email="booking-sync@contoso.example",
        ews_url=PUBLIC_EWS,
        password="the-old-password",
    )
    monkeypatch.setattr("calendars.connect.backend_for", broken)

    response = failing_client(root).post(
        reverse("admin:calendars_exchangeconnection_rotate", args=[conn.pk]),
        {"new_secret": TYPED},
    )

    assert_no_secret(reports(response), TYPED, "the-old-password")


# --- Django's sign-in and password views (wired by scheduler_site/urls.py) ----------------


def test_a_login_failing_inside_the_password_check_reports_no_password(
    secret_settings: Settings, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_gone(self: UserManager, username: str) -> None:
        raise OperationalError("the database went away")

    # ModelBackend.authenticate holds the password in a local when this raises.
    monkeypatch.setattr(UserManager, "get_by_natural_key", database_gone)
    client = Client(raise_request_exception=False, **ENVIRON)

    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-pw"})

    assert_no_secret(reports(response), "alice-pw")


def test_a_failing_password_change_reports_none_of_the_passwords(
    secret_settings: Settings, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("django.contrib.auth.views.update_session_auth_hash", broken)

    response = failing_client(alice).post(
        "/accounts/password_change/",
        {
            "old_password": "alice-pw",
            "new_password1": "A-new-long-passphrase-42",
            "new_password2": "A-new-long-passphrase-42",
        },
    )

    assert_no_secret(reports(response), "alice-pw", "A-new-long-passphrase-42")
