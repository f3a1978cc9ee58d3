"""The test CA and TLS helpers, checked with real handshakes over loopback."""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from http.server import BaseHTTPRequestHandler

import pytest
import requests
from cryptography import x509

from calendars.simulator.tls import (
    IssuedCertificate,
    TestCA,
    ThreadingHTTPSServer,
    legacy_client_context,
    server_context,
)


class OkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def ca() -> Iterator[TestCA]:
    with TestCA() as authority:
        yield authority


@contextmanager
def https_server(context: ssl.SSLContext, host: str = "127.0.0.1") -> Iterator[int]:
    server = ThreadingHTTPSServer((host, 0), OkHandler, context)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def get(url: str, verify: str | bool) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False  # REQUESTS_CA_BUNDLE must not decide what is trusted
        return session.get(url, verify=verify, timeout=10)


def serve(issued: IssuedCertificate) -> AbstractContextManager[int]:
    return https_server(server_context(issued.cert_path, issued.key_path))


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_a_certificate_signed_by_the_ca_is_trusted_for_ip_and_localhost(ca: TestCA) -> None:
    issued = ca.issue_server_certificate()

    with serve(issued) as port:
        by_ip = get(f"https://127.0.0.1:{port}/", verify=str(ca.ca_cert_path))
        by_name = get(f"https://localhost:{port}/", verify=str(ca.ca_cert_path))

    assert (by_ip.text, by_name.text) == ("ok", "ok")


@pytest.mark.skipif(not ipv6_loopback_available(), reason="::1 is not configured here")
def test_the_ipv6_loopback_address_is_in_the_certificate_too(ca: TestCA) -> None:
    issued = ca.issue_server_certificate()

    with https_server(server_context(issued.cert_path, issued.key_path), host="::1") as port:
        assert get(f"https://[::1]:{port}/", verify=str(ca.ca_cert_path)).text == "ok"


def test_the_system_trust_store_does_not_trust_the_test_ca(ca: TestCA) -> None:
    issued = ca.issue_server_certificate()

    with (
        serve(issued) as port,
        pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        get(f"https://127.0.0.1:{port}/", verify=True)


def test_a_self_signed_certificate_is_not_trusted(ca: TestCA) -> None:
    issued = ca.issue_self_signed_certificate()

    with (
        serve(issued) as port,
        pytest.raises(requests.exceptions.SSLError, match="self-signed certificate"),
    ):
        get(f"https://127.0.0.1:{port}/", verify=str(ca.ca_cert_path))


def test_an_expired_certificate_is_refused(ca: TestCA) -> None:
    issued = ca.issue_expired_server_certificate()

    with (
        serve(issued) as port,
        pytest.raises(requests.exceptions.SSLError, match="certificate has expired"),
    ):
        get(f"https://127.0.0.1:{port}/", verify=str(ca.ca_cert_path))


def test_a_certificate_for_another_host_is_refused(ca: TestCA) -> None:
    issued = ca.issue_server_certificate(["mail.other.example"], [])

    with serve(issued) as port, pytest.raises(requests.exceptions.SSLError, match="match"):
        get(f"https://127.0.0.1:{port}/", verify=str(ca.ca_cert_path))


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1], ids=["tls1.0", "tls1.1"]
)
def test_a_server_limited_to_tls_below_1_2_is_possible_and_default_clients_refuse_it(
    ca: TestCA, version: ssl.TLSVersion
) -> None:
    issued = ca.issue_server_certificate()
    context = server_context(issued.cert_path, issued.key_path, maximum_version=version)

    with https_server(context) as port:
        with pytest.raises(requests.exceptions.SSLError):
            get(f"https://127.0.0.1:{port}/", verify=str(ca.ca_cert_path))
        # The server really works: a client that still allows old versions gets through.
        client = legacy_client_context(ca.ca_cert_path)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            negotiated = tls.version()

    assert negotiated == {ssl.TLSVersion.TLSv1: "TLSv1", ssl.TLSVersion.TLSv1_1: "TLSv1.1"}[version]


def test_the_default_server_context_refuses_clients_below_tls_1_2(ca: TestCA) -> None:
    issued = ca.issue_server_certificate()
    client = legacy_client_context(ca.ca_cert_path, maximum_version=ssl.TLSVersion.TLSv1_1)

    with (
        serve(issued) as port,
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        pytest.raises(ssl.SSLError),
    ):
        client.wrap_socket(raw, server_hostname="127.0.0.1")


def test_the_server_can_be_limited_to_tls_1_3(ca: TestCA) -> None:
    issued = ca.issue_server_certificate()
    context = server_context(
        issued.cert_path, issued.key_path, minimum_version=ssl.TLSVersion.TLSv1_3
    )
    client = ssl.create_default_context(cafile=str(ca.ca_cert_path))

    with (
        https_server(context) as port,
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() == "TLSv1.3"


def test_issued_certificates_name_the_requested_hosts(ca: TestCA) -> None:
    issued = ca.issue_server_certificate(["ews.corp.test", "localhost"], ["127.0.0.1"])
    cert = x509.load_pem_x509_certificate(issued.cert_path.read_bytes())

    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["ews.corp.test", "localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    ca_cert = x509.load_pem_x509_certificate(ca.ca_cert_path.read_bytes())
    assert cert.issuer == ca_cert.subject


def test_private_keys_are_private_and_removed_on_close() -> None:
    ca = TestCA()
    issued = ca.issue_server_certificate()
    directory = ca.directory

    assert os.stat(issued.key_path).st_mode & 0o777 == 0o600
    assert os.stat(directory).st_mode & 0o777 == 0o700

    ca.close()

    assert not directory.exists()


def test_two_certificates_of_the_same_kind_do_not_overwrite_each_other(ca: TestCA) -> None:
    first = ca.issue_server_certificate()
    second = ca.issue_server_certificate()

    assert first.cert_path != second.cert_path
    assert first.cert_path.read_bytes() != second.cert_path.read_bytes()
