"""NTLM acceptor, driven end to end by requests + requests_ntlm over loopback HTTP/1.1."""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import spnego
from requests_ntlm import HttpNtlmAuth

from calendars.simulator.ntlm import (
    NtlmAcceptor,
    NtlmContext,
    NtlmError,
    NtlmStep,
    is_negotiate_message,
)


@dataclass
class Directory:
    """The users the test server accepts; tests change passwords between connections."""

    users: dict[tuple[str, str], str] = field(default_factory=dict)

    def credentials(self) -> list[tuple[str, str, str]]:
        return [(domain, user, pw) for (domain, user), pw in self.users.items()]


class NtlmHandler(BaseHTTPRequestHandler):
    """The shape the EWS server needs: one NtlmContext per connection, keep-alive, body read."""

    protocol_version = "HTTP/1.1"  # keep-alive: NTLM authenticates the connection
    server: NtlmTestServer

    def setup(self) -> None:
        super().setup()
        # A handler instance lives exactly as long as its TCP connection.
        self.ntlm_context: NtlmContext | None = None
        self.principal: str | None = None

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self._read_body()
        if self.principal is not None:
            self._answer(200, self.principal.encode())
            return
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "ntlm" or not token:
            self._challenge(None)
            return
        self._step(token)

    do_GET = do_POST

    def _step(self, token: str) -> None:
        if self.ntlm_context is None or is_negotiate_message(token):
            self.ntlm_context = self.server.acceptor.new_context()
            self.server.contexts_created += 1
        try:
            step = self.ntlm_context.step(token)
        except NtlmError:
            self.ntlm_context = None
            self._challenge(None)
            return
        if not step.complete:
            self._challenge(step.out_token_b64)
            return
        self.principal = step.principal
        self._answer(200, (step.principal or "").encode())

    def _read_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _challenge(self, token: str | None) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", f"NTLM {token}" if token else "NTLM")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class NtlmTestServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, acceptor: NtlmAcceptor) -> None:
        super().__init__(("127.0.0.1", 0), NtlmHandler)
        self.acceptor = acceptor
        self.contexts_created = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/EWS/Exchange.asmx"


@pytest.fixture
def directory() -> Directory:
    return Directory({("CORP", "alice"): "Correct horse 1", ("CORP", "bob"): "Bob's:pass"})


@pytest.fixture
def server(directory: Directory) -> Iterator[NtlmTestServer]:
    with NtlmAcceptor(directory.credentials) as acceptor:
        httpd = NtlmTestServer(acceptor)
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield httpd
        finally:
            httpd.shutdown()
            httpd.server_close()


def login(server: NtlmTestServer, username: str, password: str) -> requests.Response:
    # A fresh session is a fresh connection, so each call is one complete NTLM handshake.
    with requests.Session() as session:
        session.trust_env = False
        return session.post(
            server.url, data=b"<soap/>", auth=HttpNtlmAuth(username, password), timeout=10
        )


def test_the_right_password_is_accepted_and_names_the_principal(server: NtlmTestServer) -> None:
    response = login(server, "CORP\\alice", "Correct horse 1")

    assert response.status_code == 200
    assert response.text == "CORP\\alice"


def test_the_principal_is_spelt_as_configured_whatever_case_the_client_used(
    server: NtlmTestServer,
) -> None:
    response = login(server, "corp\\ALICE", "Correct horse 1")

    assert response.status_code == 200
    assert response.text == "CORP\\alice"


def test_a_password_containing_a_colon_works(server: NtlmTestServer) -> None:
    assert login(server, "CORP\\bob", "Bob's:pass").text == "CORP\\bob"


def test_a_wrong_password_is_refused_with_401(server: NtlmTestServer) -> None:
    response = login(server, "CORP\\alice", "wrong")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "NTLM"


def test_an_unknown_user_or_domain_is_refused(server: NtlmTestServer) -> None:
    assert login(server, "CORP\\mallory", "Correct horse 1").status_code == 401
    assert login(server, "OTHER\\alice", "Correct horse 1").status_code == 401
    assert login(server, "alice", "Correct horse 1").status_code == 401


def test_a_user_without_a_domain_needs_a_credential_without_a_domain(
    server: NtlmTestServer, directory: Directory
) -> None:
    directory.users[("", "carol@corp.example")] = "Carol pw"

    response = login(server, "carol@corp.example", "Carol pw")

    assert response.status_code == 200
    assert response.text == "carol@corp.example"


def test_a_password_change_applies_to_the_next_connection(
    server: NtlmTestServer, directory: Directory
) -> None:
    assert login(server, "CORP\\alice", "Correct horse 1").status_code == 200

    directory.users[("CORP", "alice")] = "New password 2"

    assert login(server, "CORP\\alice", "New password 2").status_code == 200
    assert login(server, "CORP\\alice", "Correct horse 1").status_code == 401


def test_the_connection_stays_authenticated_for_later_requests(server: NtlmTestServer) -> None:
    with requests.Session() as session:
        session.trust_env = False
        session.auth = HttpNtlmAuth("CORP\\alice", "Correct horse 1")
        first = session.post(server.url, data=b"one", timeout=10)
        second = session.post(server.url, data=b"two", timeout=10)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.text == "CORP\\alice"
    assert server.contexts_created == 1  # one handshake: the connection was kept alive


def test_two_acceptors_in_one_process_keep_their_own_users() -> None:
    first = NtlmAcceptor(lambda: [("A", "ann", "pw-a")])
    second = NtlmAcceptor(lambda: [("B", "ben", "pw-b")])
    try:
        assert handshake(first.new_context(), "A\\ann", "pw-a").principal == "A\\ann"
        assert handshake(second.new_context(), "B\\ben", "pw-b").principal == "B\\ben"
        with pytest.raises(NtlmError):
            handshake(second.new_context(), "A\\ann", "pw-a")
    finally:
        first.close()
        second.close()


def test_concurrent_handshakes_on_several_acceptors_do_not_interfere() -> None:
    acceptors = [NtlmAcceptor(lambda i=i: [("D", f"user{i}", f"pw{i}")]) for i in range(4)]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            for _ in range(10):
                step = handshake(acceptors[i].new_context(), f"D\\user{i}", f"pw{i}")
                assert step.principal == f"D\\user{i}"
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for acceptor in acceptors:
        acceptor.close()
    assert errors == []


def test_garbage_tokens_raise_ntlm_error() -> None:
    with NtlmAcceptor(lambda: [("CORP", "alice", "pw")]) as acceptor:
        with pytest.raises(NtlmError):
            acceptor.new_context().step("not base64!!")
        with pytest.raises(NtlmError):
            acceptor.new_context().step(base64.b64encode(b"NTLMSSP\x00garbage").decode())


def test_the_user_file_is_private_and_removed_when_done() -> None:
    acceptor = NtlmAcceptor(lambda: [("CORP", "alice", "pw")])
    directory = acceptor._directory
    context = acceptor.new_context()
    (user_file,) = directory.iterdir()

    assert os.stat(user_file).st_mode & 0o777 == 0o600
    assert "pw" not in user_file.read_text()  # hashes only

    handshake(context, "CORP\\alice", "pw")
    assert list(directory.iterdir()) == []
    acceptor.close()
    assert not directory.exists()


def test_the_environment_variable_is_restored_after_each_call() -> None:
    before = os.environ.get("NTLM_USER_FILE")
    with NtlmAcceptor(lambda: [("CORP", "alice", "pw")]) as acceptor:
        handshake(acceptor.new_context(), "CORP\\alice", "pw")

    assert os.environ.get("NTLM_USER_FILE") == before


def test_is_negotiate_message_recognises_only_type_1_messages() -> None:
    client = spnego.client("CORP\\alice", "pw", protocol="ntlm")
    negotiate = base64.b64encode(client.step()).decode()

    assert is_negotiate_message(negotiate)
    assert not is_negotiate_message(base64.b64encode(b"NTLMSSP\x00\x03\x00\x00\x00").decode())
    assert not is_negotiate_message("%%%")


def handshake(context: NtlmContext, username: str, password: str) -> NtlmStep:
    """Run a whole NTLM exchange in memory with pyspnego's client."""
    client = spnego.client(username, password, protocol="ntlm")
    step = context.step(base64.b64encode(client.step()).decode())
    assert not step.complete and step.out_token_b64
    authenticate = client.step(base64.b64decode(step.out_token_b64))
    assert authenticate is not None
    final = context.step(base64.b64encode(authenticate).decode())
    assert final.complete
    return final
