"""Connecting to Exchange over HTTPS: certificates are verified and TLS 1.2 is the minimum.

Each simulator here speaks real TLS on loopback with a certificate from a throw-away CA. The
site trusts one CA through EXCHANGE_CA_BUNDLE (as a site in a company with its own CA does);
a certificate from any other CA, an expired one, or a server stuck on TLS 1.1 is refused at
the handshake with a message saying which of those it was, and nothing is saved.
"""

from __future__ import annotations

import http.client
import ssl
import uuid
from collections.abc import Iterator
from typing import Any

import exchangelib
import pytest

from calendars import connect
from calendars.errors import TlsError, TlsTooOld
from calendars.models import ExchangeConnection
from calendars.simulator import Simulator
from calendars.simulator.tls import TestCA, legacy_client_context, server_context

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def trusted_ca() -> Iterator[TestCA]:
    with TestCA(common_name="Contoso Corporate CA") as ca:
        yield ca


@pytest.fixture(scope="module")
def other_ca() -> Iterator[TestCA]:
    with TestCA(common_name="Someone Else's CA") as ca:
        yield ca


def https_simulator(ctx: ssl.SSLContext) -> Iterator[Simulator]:
    with Simulator(ssl_context=ctx) as sim:
        yield sim


@pytest.fixture(scope="module")
def trusted(trusted_ca: TestCA) -> Iterator[Simulator]:
    issued = trusted_ca.issue_server_certificate()
    yield from https_simulator(server_context(issued.cert_path, issued.key_path))


@pytest.fixture(scope="module")
def untrusted(other_ca: TestCA) -> Iterator[Simulator]:
    issued = other_ca.issue_server_certificate()
    yield from https_simulator(server_context(issued.cert_path, issued.key_path))


@pytest.fixture(scope="module")
def expired(trusted_ca: TestCA) -> Iterator[Simulator]:
    issued = trusted_ca.issue_expired_server_certificate()
    yield from https_simulator(server_context(issued.cert_path, issued.key_path))


@pytest.fixture(scope="module")
def legacy(trusted_ca: TestCA) -> Iterator[Simulator]:
    # A server that offers nothing newer than TLS 1.1. OpenSSL 3 on Debian refuses TLS
    # 1.0/1.1 at its default security level; server_context() lowers it to 0 for such a
    # server, and test_the_legacy_server_really_speaks_tls_1_1 below proves it then works.
    issued = trusted_ca.issue_server_certificate()
    ctx = server_context(issued.cert_path, issued.key_path, maximum_version=ssl.TLSVersion.TLSv1_1)
    yield from https_simulator(ctx)


@pytest.fixture(autouse=True)
def _settings(settings: Any, trusted_ca: TestCA) -> Iterator[None]:
    settings.EXCHANGE_CA_BUNDLE = str(trusted_ca.ca_cert_path)
    settings.EXCHANGE_ALLOW_HTTP = False
    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = True  # the simulators listen on 127.0.0.1
    yield
    exchangelib.close_connections()


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("staff", "staff@contoso.example")


def connect_to(sim: Simulator, staff: Any) -> ExchangeConnection:
    email = f"pat-{uuid.uuid4().hex[:8]}@contoso.example"
    sim.add_mailbox(email, "Pat", "pat-password")
    details = connect.PersonalDetails(email, "pat-password", ews_url=sim.ews_url)
    return connect.connect_personal(staff, details)


def test_a_server_whose_certificate_our_ca_bundle_trusts_connects(
    trusted: Simulator, staff: Any
) -> None:
    assert trusted.ews_url.startswith("https://")
    conn = connect_to(trusted, staff)
    assert conn.pk and conn.status == "ok"
    assert trusted.log[-1].outcome == "NoError"


def test_a_certificate_from_an_unknown_ca_is_refused_and_nothing_is_saved(
    untrusted: Simulator, staff: Any
) -> None:
    untrusted.clear_log()
    with pytest.raises(TlsError) as err:
        connect_to(untrusted, staff)
    assert "certificate is not trusted" in err.value.message
    assert not ExchangeConnection.objects.exists()
    # Refused during the handshake: not one request reached the server.
    assert untrusted.log == []


def test_an_expired_certificate_is_refused_with_its_own_message(
    expired: Simulator, staff: Any
) -> None:
    with pytest.raises(TlsError) as err:
        connect_to(expired, staff)
    assert "certificate has expired" in err.value.message
    assert not ExchangeConnection.objects.exists()


def test_the_legacy_server_really_speaks_tls_1_1(legacy: Simulator, trusted_ca: TestCA) -> None:
    # Without this, the next test could pass because the server speaks no TLS at all.
    client = legacy_client_context(trusted_ca.ca_cert_path)
    conn = http.client.HTTPSConnection("127.0.0.1", legacy.port, context=client, timeout=5)
    conn.request("POST", "/EWS/Exchange.asmx", body=b"<x/>")
    response = conn.getresponse()
    assert response.status == 401  # TLS worked; it wants credentials
    assert conn.sock.version() in ("TLSv1.1", "TLSv1")
    conn.close()


def test_a_server_offering_only_tls_below_1_2_is_refused(legacy: Simulator, staff: Any) -> None:
    legacy.clear_log()
    with pytest.raises(TlsTooOld) as err:
        connect_to(legacy, staff)
    assert "older than 1.2" in err.value.message
    assert not ExchangeConnection.objects.exists()
    assert legacy.log == []
