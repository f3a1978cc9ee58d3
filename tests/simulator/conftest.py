"""Fixtures that drive the real exchangelib against an EWS simulator on an ephemeral port.

One simulator per test module (per xdist worker), with fresh, uniquely named mailboxes per
test, and faults and the request log reset around every test, so tests share no state.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import exchangelib
import pytest
import requests
from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials, FailFast
from exchangelib.protocol import RetryPolicy
from exchangelib.version import EXCHANGE_2016, Version
from pytest_django.fixtures import Settings

from calendars.simulator import Simulator

SCHEMA_DIR = Path(
    os.environ.get("EWS_SCHEMA_DIR")
    or Path(__file__).resolve().parents[2].parent / "shared" / "ews-schema"
)
HAVE_SCHEMA = (SCHEMA_DIR / "messages.xsd").exists()


def make_simulator(**kwargs: object) -> Simulator:
    """A simulator validating every response against the EWS schema when it is available."""
    return Simulator(validate_schema_dir=SCHEMA_DIR if HAVE_SCHEMA else None, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with make_simulator() as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _reach_the_simulator(settings: Settings) -> None:
    """exchangelib is a plain client here, but once calendars.backends.ews is imported (by any
    app test in the same run) every exchangelib session goes through the app's transport, whose
    SSRF guard refuses plain http and 127.0.0.1 unless allowed: allow them, as the demo does."""
    settings.EXCHANGE_ALLOW_HTTP = True
    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = True


@pytest.fixture(autouse=True)
def _isolate(request: pytest.FixtureRequest) -> Iterator[None]:
    """Reset faults/log before each test; afterwards drop exchangelib's cached protocols
    (they are keyed by endpoint and credentials) and insist every response was schema-valid
    and no request hit a simulator bug."""
    simulator: Simulator | None = (
        request.getfixturevalue("sim") if "sim" in request.fixturenames else None
    )
    if simulator is not None:
        simulator.come_up()
        simulator.clear_faults()
        simulator.clear_log()
        errors_before = len(simulator.schema_errors)
        bugs_before = len(simulator.internal_errors)
    yield
    exchangelib.close_connections()
    if simulator is not None:
        assert simulator.schema_errors[errors_before:] == []
        assert simulator.internal_errors[bugs_before:] == []


@dataclass(frozen=True)
class User:
    email: str
    password: str
    name: str
    login: str  # DOMAIN\user
    upn: str


@pytest.fixture
def new_user(sim: Simulator) -> Callable[..., User]:
    """Create a mailbox with a unique address: new_user("alice")."""

    def create(name: str = "user", password: str | None = None) -> User:
        tag = uuid.uuid4().hex[:8]
        user = User(
            email=f"{name}-{tag}@contoso.example",
            password=password or f"pw-{tag}",
            name=f"{name.capitalize()} {tag}",
            login=f"CONTOSO\\{name}-{tag}",
            upn=f"{name}-{tag}@corp.contoso.example",
        )
        sim.add_mailbox(user.email, user.name, user.password, logins=[user.login, user.upn])
        return user

    return create


def connect(
    sim: Simulator,
    username: str,
    password: str,
    *,
    mailbox: str | None = None,
    access_type: str = DELEGATE,
    auth_type: str | None = BASIC,
    retry_policy: RetryPolicy | None = None,
    discover_version: bool = False,
    timezone: str = "Europe/London",
) -> Account:
    """An exchangelib Account for `mailbox` (default: the user's own), logged in as `username`.

    The version is given unless `discover_version`, which saves the ConvertId round trip.
    """
    config = Configuration(
        service_endpoint=sim.ews_url,
        credentials=Credentials(username, password),
        auth_type=auth_type,
        retry_policy=retry_policy or FailFast(),
        version=None if discover_version else Version(build=EXCHANGE_2016),
    )
    return Account(
        mailbox or username,
        config=config,
        autodiscover=False,
        access_type=access_type,
        default_timezone=exchangelib.EWSTimeZone(timezone),
    )


@pytest.fixture
def login(sim: Simulator) -> Callable[..., Account]:
    """login(user, mailbox=None, **kwargs) -> Account."""

    def make(user: User, mailbox: User | str | None = None, **kwargs: object) -> Account:
        target = mailbox.email if isinstance(mailbox, User) else mailbox
        return connect(sim, user.email, user.password, mailbox=target, **kwargs)  # type: ignore[arg-type]

    return make


# --- Microsoft Graph: a simulator that accepts the identity provider's Graph tokens -------

GRAPH_DEFAULT = "https://graph.microsoft.com/.default"
GRAPH_APP_ID = "a0a0a0a0-1111-2222-3333-444444444444"
GRAPH_WEB_APP_ID = "b0b0b0b0-1111-2222-3333-444444444444"
GRAPH_REDIRECT = "http://localhost:8000/accounts/microsoft/callback"
DELEGATED_SCOPES = ["Calendars.ReadWrite.Shared", "User.Read"]


@pytest.fixture(scope="module")
def graph_sim(idp: object) -> Iterator[Simulator]:
    """A plain-HTTP simulator (EWS and Graph on one store) trusting `idp`'s tokens, with an
    app-only client (Calendars.ReadWrite) and a web app for delegated sign-ins."""
    idp.register_application(  # type: ignore[attr-defined]
        GRAPH_APP_ID, "graph-secret", roles={"Calendars.ReadWrite", "User.Read.All"}
    )
    idp.register_application(  # type: ignore[attr-defined]
        GRAPH_WEB_APP_ID, "web-secret", redirect_uris=[GRAPH_REDIRECT]
    )
    with make_simulator(identity_provider=idp) as simulator:
        yield simulator


class Graph:
    """requests against the simulator's Graph face with one bearer token."""

    def __init__(self, sim: Simulator, token: str) -> None:
        self.sim = sim
        self.token = token
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.sim.graph_url}{path}"

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return self.session.get(self.url(path), **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, json: object = None, **kwargs: object) -> requests.Response:
        return self.session.post(self.url(path), json=json, **kwargs)  # type: ignore[arg-type]

    def patch(self, path: str, json: object = None, **kwargs: object) -> requests.Response:
        return self.session.patch(self.url(path), json=json, **kwargs)  # type: ignore[arg-type]

    def delete(self, path: str, **kwargs: object) -> requests.Response:
        return self.session.delete(self.url(path), **kwargs)  # type: ignore[arg-type]


def _idp_session(idp: object) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(idp.ca_cert_path)  # type: ignore[attr-defined]
    return session


def app_token(idp: object, client_id: str = GRAPH_APP_ID, secret: str = "graph-secret") -> str:
    import msal

    app = msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=idp.authority,  # type: ignore[attr-defined]
        instance_discovery=False,
        http_client=_idp_session(idp),
    )
    return app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])["access_token"]


def user_token(idp: object, user: User, scopes: list[str] | None = None) -> str:
    """A delegated Graph token for `user`, through msal's auth code flow and the login form."""
    import msal

    idp.register_user(user.email, user.password)  # type: ignore[attr-defined]
    app = msal.ConfidentialClientApplication(
        GRAPH_WEB_APP_ID,
        client_credential="web-secret",
        authority=idp.authority,  # type: ignore[attr-defined]
        instance_discovery=False,
        http_client=_idp_session(idp),
    )
    flow = app.initiate_auth_code_flow(
        scopes or DELEGATED_SCOPES, redirect_uri=GRAPH_REDIRECT, response_mode="form_post"
    )
    response = idp.sign_in(flow["auth_uri"], user.email, user.password)  # type: ignore[attr-defined]
    result = app.acquire_token_by_auth_code_flow(flow, response)
    return result["access_token"]


@pytest.fixture
def as_app(sim: Simulator, idp: object) -> Callable[..., Graph]:
    """as_app() -> a Graph client with an app-only token (Calendars.ReadWrite)."""

    def make(client_id: str = GRAPH_APP_ID, secret: str = "graph-secret") -> Graph:
        return Graph(sim, app_token(idp, client_id, secret))

    return make


@pytest.fixture
def as_user(sim: Simulator, idp: object) -> Callable[..., Graph]:
    """as_user(user, scopes=None) -> a Graph client with the user's delegated token."""

    def make(user: User, scopes: list[str] | None = None) -> Graph:
        return Graph(sim, user_token(idp, user, scopes))

    return make


# Type names for the Graph tests' fixtures.
NewUser = Callable[..., User]
AsApp = Callable[..., Graph]
AsUser = Callable[..., Graph]
Login = Callable[..., Account]
