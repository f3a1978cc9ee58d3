"""The calendar connection pages: connect a personal account (with the fallback form), connect
with Microsoft (OAuth against the simulator's identity provider), attach to the corporate
connection, check now, disconnect. Exchange is the EWS simulator, over the wire."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import exchangelib
import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from bookings.models import Booking, BookingPage
from calendars.models import (
    AuthType,
    ConnectionKind,
    ConnectionStatus,
    CorporateMember,
    ExchangeConnection,
)
from calendars.simulator import Simulator
from calendars.simulator.idp import IdentityProvider
from tests.world import World

pytestmark = pytest.mark.django_db

STAFF_URLS = [
    "/dashboard/",
    "/connection/",
    "/connection/personal/",
    "/connection/microsoft/",
    "/connection/microsoft/callback/",
    "/connection/attach/",
    "/connection/disconnect/",
]


@pytest.fixture
def alice(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user("alice", "alice@contoso.example", "pw")


@pytest.fixture
def bob(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user("bob", "bob@contoso.example", "pw")


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(response: HttpResponse) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def personal(user: User, **fields: object) -> ExchangeConnection:
    return ExchangeConnection.objects.create(
        kind=ConnectionKind.PERSONAL,
        user=user,
        email=user.email,
        ews_url="https://mail.contoso.example/EWS/Exchange.asmx",
        password="the-stored-password",
        **fields,
    )


def corporate(**fields: object) -> ExchangeConnection:
    return ExchangeConnection.objects.create(
        kind=ConnectionKind.CORPORATE,
        email="booking-sync@contoso.example",
        ews_url="https://mail.contoso.example/EWS/Exchange.asmx",
        password="the-corporate-password",
        **fields,
    )


# --- who may see what --------------------------------------------------------------------


@pytest.mark.parametrize("url", STAFF_URLS)
def test_anonymous_visitors_are_sent_to_sign_in(client: Client, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize(
    "url", ["/connection/check/", "/connection/disconnect/", "/connection/attach/"]
)
def test_anonymous_posts_change_nothing(client: Client, alice: User, url: str) -> None:
    personal(alice)

    response = client.post(url)

    assert response["Location"].startswith("/accounts/login/")
    assert ExchangeConnection.objects.filter(user=alice).exists()


def test_each_user_sees_only_their_own_connection(alice: User, bob: User) -> None:
    personal(alice, status=ConnectionStatus.FAILING, last_error="Alice's problem")

    mine = signed_in(alice).get("/connection/")
    theirs = signed_in(bob).get("/connection/")

    assert b"alice@contoso.example" in mine.content and b"Alice&#x27;s problem" in mine.content
    assert b"No calendar is connected yet" in theirs.content
    assert b"alice@contoso.example" not in theirs.content
    assert b"Alice&#x27;s problem" not in theirs.content


def test_disconnecting_only_ever_removes_my_own_connection(alice: User, bob: User) -> None:
    personal(alice)

    response = signed_in(bob).post("/connection/disconnect/", follow=True)

    assert "No calendar is connected." in messages_of(response)
    assert ExchangeConnection.objects.filter(user=alice).exists()


# --- the connection page ----------------------------------------------------------------


def test_the_page_offers_every_way_to_connect(alice: User, settings: Settings) -> None:
    settings.MICROSOFT_CLIENT_ID = "app-id"
    corporate()

    response = signed_in(alice).get("/connection/")

    assert b"Attach to the booking mailbox" in response.content
    assert b"booking-sync@contoso.example" in response.content
    assert b'href="/connection/personal/"' in response.content
    assert b">Connect with Microsoft</button>" in response.content


def test_without_a_corporate_connection_or_microsoft_app_only_the_personal_form_is_offered(
    alice: User, settings: Settings
) -> None:
    settings.MICROSOFT_CLIENT_ID = ""

    response = signed_in(alice).get("/connection/")

    assert b'href="/connection/personal/"' in response.content
    assert b"Attach to the booking mailbox" not in response.content
    assert b"Connect with Microsoft" not in response.content


def test_a_personal_connection_shows_status_last_contact_and_last_error_never_the_password(
    alice: User,
) -> None:
    personal(
        alice,
        status=ConnectionStatus.FAILING,
        last_error="The Exchange server could not be reached. Check the EWS URL.",
    )

    response = signed_in(alice).get("/connection/")

    assert b"Failing" in response.content
    assert b"Last successful contact</dt><dd>Never" in response.content
    assert b"The Exchange server could not be reached. Check the EWS URL." in response.content
    assert b"https://mail.contoso.example/EWS/Exchange.asmx" in response.content
    assert b"the-stored-password" not in response.content


def test_a_member_sees_delegation_status_and_how_to_grant_it(alice: User) -> None:
    CorporateMember.objects.create(
        user=alice,
        connection=corporate(),
        mailbox="alice@contoso.example",
        proven_at=timezone.now(),
        access_ok=False,
        error="alice@contoso.example has not delegated their calendar.",
    )

    response = signed_in(alice).get("/connection/")

    content = response.content.decode()
    assert "No access to your calendar" in content
    assert "has not delegated their calendar" in content
    assert "How to grant access" in content
    assert "gives it Editor or Delegate permission" in content
    assert "the-corporate-password" not in content


def test_the_personal_form_is_not_offered_again_once_connected(alice: User) -> None:
    personal(alice)

    response = signed_in(alice).get("/connection/personal/", follow=True)

    assert response.redirect_chain == [("/connection/", 302)]
    assert "You are already connected. Disconnect first to connect another way." in (
        messages_of(response)
    )


def test_the_personal_form_checks_the_email_before_asking_exchange(alice: User) -> None:
    response = signed_in(alice).post(
        "/connection/personal/", {"email": "not an address", "password": "x"}
    )

    assert response.status_code == 400
    assert b'<p class="field-error" id="id_email_error">' in response.content
    assert not ExchangeConnection.objects.exists()


@pytest.mark.parametrize("email", ["x@[127.0.0.1]", "x@[::1]", "x@[8.8.8.8]"])
def test_the_personal_form_refuses_an_address_at_an_ip_address(alice: User, email: str) -> None:
    # Django's EmailField takes domain literals; Autodiscover built https://[127.0.0.1]/...
    # from one, which urlsplit refuses with a ValueError (a 500).
    response = signed_in(alice).post("/connection/personal/", {"email": email, "password": "x"})

    assert response.status_code == 400
    assert b'<p class="field-error" id="id_email_error">Enter your mailbox' in response.content
    assert not ExchangeConnection.objects.exists()


def test_autodiscover_of_a_domain_literal_fails_like_any_other_autodiscover(
    settings: Settings,
) -> None:
    from calendars.connect import autodiscover
    from calendars.errors import AutodiscoverFailed

    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = False
    with pytest.raises(AutodiscoverFailed):
        autodiscover("x@[127.0.0.1]", "x")


def test_the_personal_form_starts_short_and_can_show_the_server_details(alice: User) -> None:
    short = signed_in(alice).get("/connection/personal/")
    full = signed_in(alice).get("/connection/personal/?details=1")

    assert b'name="ews_url"' not in short.content
    assert b'value="alice@contoso.example"' in short.content
    for name in (b"ews_url", b"username", b"exchange_version", b"auth_type"):
        assert b'name="' + name + b'"' in full.content


def test_microsoft_says_when_it_is_not_configured(alice: User, settings: Settings) -> None:
    settings.MICROSOFT_CLIENT_ID = ""

    response = signed_in(alice).post("/connection/microsoft/")

    assert response.status_code == 404
    assert b"Connect with Microsoft isn't configured on this site." in response.content


def test_attach_needs_a_corporate_connection(alice: User) -> None:
    assert signed_in(alice).get("/connection/attach/").status_code == 404


def test_attach_is_refused_while_a_personal_account_is_connected(alice: User) -> None:
    personal(alice)
    corporate()

    response = signed_in(alice).post(
        "/connection/attach/", {"mailbox": "alice@contoso.example"}, follow=True
    )

    assert "Disconnect your own Exchange account before using the booking mailbox." in (
        messages_of(response)
    )
    assert not CorporateMember.objects.exists()


def test_disconnect_asks_first_then_deletes_the_secret_and_keeps_the_pages(alice: User) -> None:
    conn = personal(alice)
    page = BookingPage.objects.create(owner=alice, slug="intro", title="Intro")
    client = signed_in(alice)

    confirm = client.get("/connection/disconnect/")
    assert b"The stored password is deleted" in confirm.content
    assert ExchangeConnection.objects.filter(pk=conn.pk).exists()

    response = client.post("/connection/disconnect/", follow=True)

    assert response.redirect_chain == [("/connection/", 302)]
    assert not ExchangeConnection.objects.filter(pk=conn.pk).exists()
    assert BookingPage.objects.filter(pk=page.pk).exists()


def test_check_now_only_takes_posts(alice: User) -> None:
    assert signed_in(alice).get("/connection/check/").status_code == 405


def test_check_now_without_a_connection_says_so(alice: User) -> None:
    response = signed_in(alice).post("/connection/check/", follow=True)

    assert "No calendar is connected yet." in messages_of(response)


def test_check_now_goes_back_only_to_this_site(alice: User) -> None:
    client = signed_in(alice)

    inside = client.post("/connection/check/", {"next": "/dashboard/"})
    outside = client.post("/connection/check/", {"next": "https://evil.example/"})

    assert inside["Location"] == "/dashboard/"
    assert outside["Location"] == "/connection/"


# --- over the wire: personal accounts ---------------------------------------------------


def test_a_personal_account_connects_through_autodiscover(world: World, alice: User) -> None:
    person = world.person("pat")

    response = signed_in(alice).post(
        "/connection/personal/", {"email": person.email, "password": person.password}, follow=True
    )

    assert response.redirect_chain == [("/connection/", 302)]
    assert f"Connected to Exchange as {person.email}." in messages_of(response)
    conn = ExchangeConnection.objects.get(user=alice)
    assert (conn.email, conn.ews_url, conn.status) == (person.email, world.sim.ews_url, "ok")
    assert b"Working" in response.content
    assert person.password.encode() not in response.content
    html = response.content.decode()
    # Checked a moment ago: said in words, not "0 minutes ago".
    assert re.search(r"Working, checked <time [^>]*>just now</time>", html)
    assert "0\u00a0minutes" not in html and "0 minutes" not in html


def test_a_wrong_password_asks_for_the_server_details_with_advice_for_on_premises_exchange(
    world: World, alice: User
) -> None:
    person = world.person("pat")

    response = signed_in(alice).post(
        "/connection/personal/", {"email": person.email, "password": "wrong-password"}
    )

    assert response.status_code == 400
    content = response.content.decode()
    # Advice that fits Exchange on the organisation's own servers, where app passwords
    # don't exist: the password, DOMAIN\user, a locked account.
    assert "app password" not in content
    assert "Check the password" in content and "DOMAIN\\user" in content
    assert "make sure the account isn&#x27;t locked" in content
    assert 'name="ews_url"' in content and 'name="details" value="1"' in content
    assert "wrong-password" not in content
    assert not ExchangeConnection.objects.exists()


@pytest.fixture
def no_autodiscover(world: World, settings: Settings) -> World:
    """Autodiscover for contoso.example answers 404, as on a network without it."""
    settings.EXCHANGE_AUTODISCOVER_ENDPOINTS = {
        "contoso.example": f"{world.sim.base_url}/no-autodiscover/autodiscover.svc"
    }
    return world


def test_when_autodiscover_fails_the_fallback_form_connects_with_a_domain_login(
    no_autodiscover: World, alice: User
) -> None:
    world = no_autodiscover
    person = world.person("pat")
    client = signed_in(alice)

    first = client.post(
        "/connection/personal/", {"email": person.email, "password": person.password}
    )
    assert b"Autodiscover could not find your Exchange server" in first.content
    assert b'name="ews_url"' in first.content
    assert not ExchangeConnection.objects.exists()

    response = client.post(
        "/connection/personal/",
        {
            "details": "1",
            "email": person.email,
            "password": person.password,
            "ews_url": world.sim.ews_url,
            "username": person.login,
            "exchange_version": "2016",
            "auth_type": "basic",
        },
        follow=True,
    )

    assert f"Connected to Exchange as {person.email}." in messages_of(response)
    conn = ExchangeConnection.objects.get(user=alice)
    assert (conn.username, conn.ews_url, conn.exchange_version) == (
        person.login,
        world.sim.ews_url,
        "2016",
    )
    assert person.login.encode() in response.content


def test_a_wrong_password_on_the_full_form_is_shown_next_to_the_password(
    world: World, alice: User
) -> None:
    person = world.person("pat")

    response = signed_in(alice).post(
        "/connection/personal/",
        {
            "details": "1",
            "email": person.email,
            "password": "wrong-password",
            "ews_url": world.sim.ews_url,
        },
    )

    content = response.content.decode()
    assert '<p class="field-error" id="id_password_error">Exchange refused' in content
    assert "DOMAIN\\user" in content
    assert "app password" not in content
    assert "wrong-password" not in content
    assert not ExchangeConnection.objects.exists()


def test_an_unreachable_server_is_shown_next_to_the_ews_url(world: World, alice: User) -> None:
    person = world.person("pat")
    world.sim.go_down()

    response = signed_in(alice).post(
        "/connection/personal/",
        {
            "details": "1",
            "email": person.email,
            "password": person.password,
            "ews_url": world.sim.ews_url,
        },
    )

    content = response.content.decode()
    assert '<p class="field-error" id="id_ews_url_error">The Exchange server could not be' in (
        content
    )
    assert not ExchangeConnection.objects.exists()


def test_check_now_records_a_password_that_stopped_working(world: World, alice: User) -> None:
    person = world.person("pat")
    client = signed_in(alice)
    client.post("/connection/personal/", {"email": person.email, "password": person.password})
    world.sim.set_password(person.email, "changed-elsewhere")
    exchangelib.close_connections()

    response = client.post("/connection/check/", {"next": "/dashboard/"}, follow=True)

    assert response.redirect_chain == [("/dashboard/", 302)]
    assert any("Exchange refused" in m for m in messages_of(response))
    assert b"Your Exchange connection is failing" in response.content
    conn = ExchangeConnection.objects.get(user=alice)
    assert conn.status == ConnectionStatus.FAILING


# --- over the wire: the corporate connection ----------------------------------------------


def test_attaching_with_delegation_says_it_works(world: World, alice: User) -> None:
    conn = world.corporate()
    person = world.person("dana")
    world.sim.add_delegate(person.email, conn.email)
    client = signed_in(alice)

    form = client.get("/connection/attach/")
    assert b'value="alice@contoso.example"' in form.content
    alice.email = person.email  # as an administrator set it on her account
    alice.save(update_fields=["email"])
    response = client.post("/connection/attach/", {"mailbox": person.email}, follow=True)

    assert f"Attached: {conn.email} can reach {person.email}'s calendar." in (messages_of(response))
    member = CorporateMember.objects.get(user=alice)
    assert (member.mailbox, member.access_ok, member.checked_at is not None) == (
        person.email,
        True,
        True,
    )
    assert b"Delegation works" in response.content
    assert b"How to grant access" not in response.content


def test_attaching_without_delegation_explains_how_to_grant_it(world: World, alice: User) -> None:
    conn = world.corporate()
    person = world.person("dana")

    alice.email = person.email  # as an administrator set it on her account
    alice.save(update_fields=["email"])
    response = signed_in(alice).post("/connection/attach/", {"mailbox": person.email}, follow=True)

    (message,) = messages_of(response)
    assert message.startswith(f"Attached, but {conn.email} can't reach your calendar yet")
    content = response.content.decode()
    assert "No access to your calendar" in content
    assert "How to grant access" in content
    assert f"adds {conn.email} and gives it Editor or Delegate permission" in content
    assert CorporateMember.objects.get(user=alice).access_ok is False


def test_check_now_sees_delegation_granted_later(world: World, alice: User) -> None:
    conn = world.corporate()
    person = world.person("dana")
    client = signed_in(alice)
    alice.email = person.email  # as an administrator set it on her account
    alice.save(update_fields=["email"])
    client.post("/connection/attach/", {"mailbox": person.email})
    world.sim.add_delegate(person.email, conn.email)

    response = client.post("/connection/check/", {"next": "/dashboard/"}, follow=True)

    assert f"Checked just now: your calendar {person.email} works." in messages_of(response)
    assert b"All calendars are working" in response.content
    assert CorporateMember.objects.get(user=alice).access_ok is True


def test_detaching_keeps_the_corporate_connection(world: World, alice: User) -> None:
    conn = world.corporate()
    person = world.person("dana")
    client = signed_in(alice)
    client.post("/connection/attach/", {"mailbox": person.email})

    client.post("/connection/disconnect/")

    assert not CorporateMember.objects.filter(user=alice).exists()
    assert ExchangeConnection.objects.filter(pk=conn.pk).exists()


# --- over the wire: Connect with Microsoft ------------------------------------------------

CLIENT_ID = "0b7d2c3e-1111-2222-3333-444455556666"
CLIENT_SECRET = "web-app-secret"
CALLBACK = "http://localhost:8000/connection/microsoft/callback/"


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    with IdentityProvider() as provider:
        provider.register_application(CLIENT_ID, CLIENT_SECRET, redirect_uris=[CALLBACK])
        yield provider


@pytest.fixture(scope="module")
def m365(idp: IdentityProvider) -> Iterator[Simulator]:
    """An EWS simulator that accepts the identity provider's bearer tokens."""
    with Simulator(identity_provider=idp) as sim:
        yield sim


@pytest.fixture
def microsoft(
    idp: IdentityProvider,
    m365: Simulator,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[IdentityProvider]:
    settings.SITE_URL = "http://localhost:8000"
    settings.MICROSOFT_CLIENT_ID = CLIENT_ID
    settings.MICROSOFT_CLIENT_SECRET = CLIENT_SECRET
    settings.MICROSOFT_AUTHORITY = idp.authority
    settings.MICROSOFT_GRAPH_URL = m365.graph_url
    settings.EXCHANGE_CA_BUNDLE = str(idp.ca_cert_path)
    settings.EXCHANGE_ALLOW_HTTP = True
    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = True
    # exchangelib's OAuth session refuses plain http, which the simulator speaks.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    yield idp
    exchangelib.close_connections()


def m365_user(idp: IdentityProvider, sim: Simulator) -> tuple[str, str]:
    email = f"megan-{uuid.uuid4().hex[:8]}@contoso.example"
    password = f"pw-{uuid.uuid4().hex[:8]}"
    idp.register_user(email, password)
    sim.add_mailbox(email, "Megan", password)
    return email, password


def test_connect_with_microsoft_signs_in_and_stores_the_refresh_token(
    microsoft: IdentityProvider, m365: Simulator, alice: User
) -> None:
    email, password = m365_user(microsoft, m365)
    client = signed_in(alice)

    start = client.post("/connection/microsoft/")
    assert start.status_code == 302
    auth_uri = start["Location"]
    assert auth_uri.startswith(microsoft.authority)
    query = parse_qs(urlsplit(auth_uri).query)
    assert query["redirect_uri"] == [CALLBACK]
    assert query["login_hint"] == ["alice@contoso.example"]
    answer = microsoft.sign_in(auth_uri, email, password)

    response = client.get(reverse("connection-microsoft-callback"), answer, follow=True)

    assert f"Connected to Microsoft 365 as {email}." in messages_of(response)
    conn = ExchangeConnection.objects.get(user=alice)
    assert (conn.email, conn.auth_type, conn.status) == (email, AuthType.OAUTH_USER, "ok")
    assert conn.oauth_refresh_token
    assert conn.oauth_refresh_token.encode() not in response.content
    assert b"Microsoft 365 (Connect with Microsoft)" in response.content


def test_a_callback_without_a_sign_in_in_progress_saves_nothing(
    microsoft: IdentityProvider, alice: User
) -> None:
    response = signed_in(alice).get(
        "/connection/microsoft/callback/", {"code": "made-up", "state": "made-up"}, follow=True
    )

    assert (
        "The Microsoft sign-in expired or was started in another browser. Try again."
        in messages_of(response)
    )
    assert not ExchangeConnection.objects.exists()


def test_a_callback_for_another_sign_in_is_refused(
    microsoft: IdentityProvider, m365: Simulator, alice: User
) -> None:
    email, password = m365_user(microsoft, m365)
    client = signed_in(alice)
    auth_uri = client.post("/connection/microsoft/")["Location"]
    answer = microsoft.sign_in(auth_uri, email, password)
    answer["state"] = "someone-elses-state"

    response = client.get("/connection/microsoft/callback/", answer, follow=True)

    assert "The answer from Microsoft doesn't belong to this sign-in. Try again." in (
        messages_of(response)
    )
    assert not ExchangeConnection.objects.exists()


def test_a_refused_sign_in_is_reported(microsoft: IdentityProvider, alice: User) -> None:
    client = signed_in(alice)
    auth_uri = client.post("/connection/microsoft/")["Location"]
    state = parse_qs(urlsplit(auth_uri).query)["state"][0]

    response = client.get(
        "/connection/microsoft/callback/",
        {"error": "access_denied", "error_description": "AADSTS65004: declined", "state": state},
        follow=True,
    )

    assert "The sign-in server refused the credentials." in messages_of(response)
    assert not ExchangeConnection.objects.exists()


def test_bookings_survive_a_disconnect(alice: User) -> None:
    personal(alice)
    page = BookingPage.objects.create(owner=alice, slug="intro", title="Intro")
    start = timezone.now() + timedelta(days=1)
    Booking.objects.create(
        page=page,
        owner=alice,
        start=start,
        end=start + timedelta(minutes=30),
        timezone="UTC",
        name="Guest",
        email="guest@example.com",
    )

    signed_in(alice).post("/connection/disconnect/")

    assert Booking.objects.filter(page=page).count() == 1
