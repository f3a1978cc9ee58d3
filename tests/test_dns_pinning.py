"""Every connection to Exchange goes to an address the SSRF guard vetted (DNS pinning).

The guard resolves a host name and refuses private addresses; if the connection then resolved
the name again, a hostile DNS server could answer a public address to the guard and 127.0.0.1
to the connection (DNS rebinding). Here the OS resolver (`socket.getaddrinfo`, not Exchange)
answers chosen addresses for made-up names; Exchange is the simulator on 127.0.0.1, over the
wire. Covered: EWS, Autodiscover, the OAuth authority and its redirects, a stored URL that the
settings no longer allow, and that a name allowed to resolve to 127.0.0.1 still gets TLS with
SNI, the Host header and certificate verification for the name.
"""

from __future__ import annotations

import socket
import ssl
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import exchangelib
import pytest
from django.contrib.auth.models import User
from django.test import Client

from calendars import busy, connect
from calendars.errors import UrlNotAllowed
from calendars.models import (
    AuthType,
    ConnectionKind,
    ConnectionStatus,
    ExchangeConnection,
)
from calendars.simulator import Simulator
from calendars.simulator.idp import IdentityProvider
from calendars.simulator.tls import TestCA, ThreadingHTTPSServer, server_context
from tests.world import World, monday_after

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"
PRIVATE_NETWORK = "private or local network"


class Resolver:
    """The OS resolver, with our answers for some names: each name answers its list in turn,
    the last one from then on (a DNS server that rebinds after its first answer)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: dict[str, list[str | None]] = {}  # None: the name does not resolve
        self.calls: Counter[str] = Counter()
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.lower() if isinstance(host, str) else host
            if name not in self.answers:
                return real(host, port, *args, **kwargs)
            self.calls[name] += 1
            queue = self.answers[name]
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            if address is None:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return real(address, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def answer(self, name: str, *addresses: str | None) -> None:
        self.answers[name] = list(addresses)


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    return Resolver(monkeypatch)


@pytest.fixture
def strict(exchange_settings: Simulator, settings: Any) -> Iterator[Simulator]:
    """The simulator on 127.0.0.1 (plain http), with private addresses refused again."""
    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = False
    settings.EXCHANGE_INTERNAL_HOSTS = []
    yield exchange_settings


@pytest.fixture
def alice(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user(
        "alice", "alice@contoso.example", "pw", is_staff=True
    )


def ews_url(sim: Simulator, host: str) -> str:
    scheme = "https" if sim.ssl_context else "http"
    return f"{scheme}://{host}:{sim.port}/EWS/Exchange.asmx"


# --- DNS rebinding ----------------------------------------------------------------------


def test_a_name_that_rebinds_to_loopback_after_the_check_never_reaches_it(
    strict: Simulator, resolver: Resolver, alice: User
) -> None:
    resolver.answer("rebind.test", PUBLIC, "127.0.0.1")
    email = "pat-rebind@contoso.example"
    strict.add_mailbox(email, "Pat", "pat-password")

    client = Client()
    client.force_login(alice)
    response = client.post(
        "/connection/personal/",
        {
            "details": "1",
            "email": email,
            "password": "pat-password",
            "ews_url": ews_url(strict, "rebind.test"),
            "auth_type": "basic",
            "exchange_version": "",
        },
    )

    # A form error saying why, not a 500 and not "could not be reached".
    assert response.status_code == 400  # refused, with the reason on the form
    assert PRIVATE_NETWORK in response.content.decode()
    assert not ExchangeConnection.objects.exists()
    # The guard saw the public answer, the connection the rebound one, and refused it.
    assert resolver.calls["rebind.test"] >= 2
    assert strict.log == []


def test_autodiscover_that_rebinds_to_loopback_never_reaches_it(
    strict: Simulator, resolver: Resolver, settings: Any
) -> None:
    resolver.answer("autodiscover.rebind.test", PUBLIC, "127.0.0.1")
    settings.EXCHANGE_AUTODISCOVER_ENDPOINTS = {
        "contoso.example": f"http://autodiscover.rebind.test:{strict.port}/autodiscover/"
        "autodiscover.svc"
    }
    email = "pat-autodiscover@contoso.example"
    strict.add_mailbox(email, "Pat", "pat-password")

    with pytest.raises(connect.AutodiscoverFailed) as err:
        connect.autodiscover(email, "pat-password")

    assert PRIVATE_NETWORK in err.value.detail
    assert strict.log == []


# --- a stored URL is vetted again ----------------------------------------------------------


def test_a_url_saved_while_private_hosts_were_allowed_is_refused_once_they_are_not(
    world: World, settings: Any
) -> None:
    owner = world.staff("olivia")
    conn = world.corporate()  # EWS URL on 127.0.0.1, saved while private hosts were allowed
    assert connect.verify(conn) is None
    refs = world.calendars(conn, owner.email)
    page = world.page(owner, tz="UTC")

    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = False
    settings.BUSY_CACHE_STALE_SECONDS = 0
    # Settings change with a restart, which starts without pooled connections.
    exchangelib.close_connections()
    world.sim.clear_log()

    error = connect.verify(conn)
    assert error is not None and error.code == "url_not_allowed"
    assert PRIVATE_NETWORK in error.message
    conn.refresh_from_db()
    assert conn.status == ConnectionStatus.FAILING and PRIVATE_NETWORK in conn.last_error

    start = monday_after()
    with pytest.raises(UrlNotAllowed, match=PRIVATE_NETWORK):
        busy.busy_intervals(conn, refs, start, start + timedelta(days=1), fresh=True)
    day = start.date().isoformat()
    slots = Client().get(f"/api/v1/pages/{page.slug}/slots", {"start": day, "end": day})
    assert slots.status_code == 503  # availability unknown, not a 500

    assert world.sim.log == []


# --- names allowed to resolve to private addresses ------------------------------------------


class Handshakes:
    """The server names (SNI) clients sent, one per TLS handshake (one per TCP connection)."""

    def __init__(self) -> None:
        self.names: list[str | None] = []

    def __call__(self, sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        self.names.append(name)


@pytest.fixture(scope="module")
def handshakes() -> Handshakes:
    return Handshakes()


@pytest.fixture(scope="module")
def corp_sim(ca: TestCA, handshakes: Handshakes) -> Iterator[Simulator]:
    # Valid for the name only: verifying it for 127.0.0.1 would fail the handshake.
    issued = ca.issue_server_certificate(dns_names=["exchange.corp.test"], ip_addresses=[])
    context = server_context(issued.cert_path, issued.key_path)
    context.sni_callback = handshakes
    with Simulator(ssl_context=context) as sim:
        yield sim


@pytest.fixture
def internal(settings: Any, ca: TestCA, corp_sim: Simulator, resolver: Resolver) -> Simulator:
    settings.EXCHANGE_CA_BUNDLE = str(ca.ca_cert_path)
    settings.EXCHANGE_ALLOW_HTTP = False
    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = False
    settings.EXCHANGE_INTERNAL_HOSTS = ["exchange.corp.test"]
    resolver.answer("exchange.corp.test", "127.0.0.1")
    exchangelib.close_connections()
    corp_sim.clear_log()
    return corp_sim


def connect_pat(sim: Simulator, user: User) -> ExchangeConnection:
    email = f"pat-{uuid.uuid4().hex[:8]}@contoso.example"
    sim.add_mailbox(email, "Pat", "pat-password")
    details = connect.PersonalDetails(
        email, "pat-password", ews_url=ews_url(sim, "exchange.corp.test")
    )
    return connect.connect_personal(user, details)


def test_an_internal_host_connects_over_tls_verified_for_its_name(
    internal: Simulator, handshakes: Handshakes, alice: User
) -> None:
    handshakes.names.clear()
    conn = connect_pat(internal, alice)

    assert conn.status == ConnectionStatus.OK
    assert internal.log and internal.log[-1].outcome == "NoError"
    # The socket went to 127.0.0.1; TLS and HTTP still named the host.
    assert handshakes.names and set(handshakes.names) == {"exchange.corp.test"}
    assert {e.host for e in internal.log} == {f"exchange.corp.test:{internal.port}"}


def test_an_internal_host_is_refused_when_no_longer_listed(
    internal: Simulator, settings: Any, alice: User
) -> None:
    conn = connect_pat(internal, alice)
    settings.EXCHANGE_INTERNAL_HOSTS = []
    exchangelib.close_connections()
    internal.clear_log()

    error = connect.verify(conn)

    assert error is not None and error.code == "url_not_allowed"
    assert "'exchange.corp.test'" in error.message and PRIVATE_NETWORK in error.message
    assert internal.log == []


def test_a_name_that_stops_resolving_is_unreachable_for_now_not_refused(
    internal: Simulator, resolver: Resolver, alice: User
) -> None:
    conn = connect_pat(internal, alice)
    resolver.answer("exchange.corp.test", None)  # the DNS server is down
    exchangelib.close_connections()

    error = connect.verify(conn)

    # A network problem that may pass, not a URL someone must change.
    assert error is not None and error.code == "unreachable" and error.transient


def test_a_pooled_connection_is_not_vetted_again_for_each_request(
    internal: Simulator, handshakes: Handshakes, resolver: Resolver, alice: User
) -> None:
    conn = connect_pat(internal, alice)
    exchangelib.close_connections()
    handshakes.names.clear()
    resolver.calls.clear()
    internal.clear_log()

    for _ in range(5):
        assert connect.verify(conn) is None

    # One resolution per new TCP connection (one handshake each), none per request.
    assert len(internal.log) >= 5
    assert resolver.calls["exchange.corp.test"] == len(handshakes.names)
    assert len(handshakes.names) < len(internal.log)


# --- the OAuth authority ------------------------------------------------------------------


class _RedirectHandler(BaseHTTPRequestHandler):
    """Answers everything with a redirect to the same path on `server.target`."""

    server: Any

    def _redirect(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.hits.append(self.path)
        self.send_response(302)
        self.send_header("Location", self.server.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _redirect

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def redirector(ca: TestCA, idp: IdentityProvider) -> Iterator[Any]:
    issued = ca.issue_server_certificate(dns_names=["login.corp.test"], ip_addresses=[])
    server = ThreadingHTTPSServer(
        ("127.0.0.1", 0), _RedirectHandler, server_context(issued.cert_path, issued.key_path)
    )
    server.hits = []  # type: ignore[attr-defined]
    server.target = idp.base_url  # type: ignore[attr-defined]  # https://127.0.0.1:<port>
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_an_oauth_authority_redirecting_to_a_private_host_is_refused(
    internal: Simulator,
    idp: IdentityProvider,
    redirector: Any,
    resolver: Resolver,
    settings: Any,
) -> None:
    resolver.answer("login.corp.test", "127.0.0.1")
    settings.EXCHANGE_INTERNAL_HOSTS = ["exchange.corp.test", "login.corp.test"]
    port = redirector.server_address[1]
    client_id, secret = "redirected-app", "redirected-secret"
    idp.register_application(client_id, secret)
    conn = ExchangeConnection.objects.create(
        kind=ConnectionKind.CORPORATE,
        email="booking-sync@contoso.example",
        ews_url=ews_url(internal, "exchange.corp.test"),
        auth_type=AuthType.OAUTH_APP,
        # An internal sign-in server the admin listed... that redirects to one they did not.
        oauth_authority=f"https://login.corp.test:{port}/{idp.tenant}",
        oauth_client_id=client_id,
        oauth_client_secret=secret,
    )
    seen_by_idp = len(idp.request_log)

    error = connect.verify(conn)

    assert error is not None and error.code == "url_not_allowed"
    assert "'127.0.0.1'" in error.message and PRIVATE_NETWORK in error.message
    assert redirector.hits  # the listed authority was reached, over TLS for its name...
    assert len(idp.request_log) == seen_by_idp  # ...and its redirect was not followed
    assert internal.log == []
