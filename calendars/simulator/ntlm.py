"""The server (acceptor) side of NTLM, for the EWS simulator.

pyspnego's NTLM acceptor reads the users it accepts from a file named by the environment variable
``NTLM_USER_FILE``. Two facts shape this module:

* pyspnego reads that variable twice: when the context is created (it refuses to start without
  the file) and again, together with the file itself, when the client's AUTHENTICATE message
  arrives. Because the environment is process-global and several simulators may share one test
  process, every call into pyspnego runs under one module-wide lock with the variable pointing at
  *this context's* file, and the previous value is restored afterwards.
* Credentials are snapshotted per context: ``NtlmAcceptor.new_context()`` asks the
  ``credentials`` callable afresh and writes them to a private file (mode 0600, in a temporary
  directory that ``NtlmAcceptor.close()`` removes). A password change therefore applies to the
  next context (in HTTP terms, the next connection) at once, and a half-finished handshake keeps
  the credentials it started with. The file holds NT/LM hashes (smbpasswd format), never the
  passwords, which also lets passwords contain ``:``.

NTLM authenticates a *connection*, not a request. The HTTP server must:

* keep one ``NtlmContext`` per TCP connection (HTTP/1.1 keep-alive; with
  ``http.server.BaseHTTPRequestHandler`` that is an attribute of the handler instance, which
  lives as long as the connection);
* read each request's body before answering, including the 401s, or the next message on the
  connection is garbage;
* answer an incomplete step with ``401`` and ``WWW-Authenticate: NTLM <out_token_b64>`` without
  ``Connection: close`` (exchangelib turns a closed connection into ``ErrorServerBusy``);
* start a new context when a NEGOTIATE message arrives (``is_negotiate_message``) and drop the
  context after an ``NtlmError``, answering ``401`` with a bare ``WWW-Authenticate: NTLM``;
* treat later requests on a connection whose context completed as coming from ``principal``.

User names are matched case-insensitively on both domain and user, exactly as given in the
credentials. A client that sends no domain (``alice`` rather than ``CORP\\alice``) only matches a
credential whose domain is ``""``; UPN-style names (``alice@corp.example``) likewise need a
``("", "alice@corp.example", password)`` entry. ``principal`` is spelt as in the credentials
(``"CORP\\alice"``, or ``"alice"`` without a domain), whatever case the client used.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import spnego
from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1
from spnego.exceptions import SpnegoError

_ENV_VAR = "NTLM_USER_FILE"
# One lock for the whole process: the environment variable is shared by every acceptor.
_ENV_LOCK = threading.Lock()

_NTLM_SIGNATURE = b"NTLMSSP\x00"
_NEGOTIATE_MESSAGE = 1


class NtlmError(Exception):
    """The client's token was malformed or its credentials were wrong."""


@dataclass(frozen=True)
class NtlmStep:
    out_token_b64: str | None  # send back as "WWW-Authenticate: NTLM <token>" when not complete
    complete: bool
    principal: str | None  # e.g. "CORP\\alice", once complete


def is_negotiate_message(token_b64: str) -> bool:
    """True if the token is an NTLM NEGOTIATE (type 1) message, i.e. a client starting over."""
    try:
        raw = base64.b64decode(token_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    return (
        raw[:8] == _NTLM_SIGNATURE
        and len(raw) >= 12
        and int.from_bytes(raw[8:12], "little") == _NEGOTIATE_MESSAGE
    )


@contextmanager
def _user_file_in_environment(path: Path) -> Iterator[None]:
    with _ENV_LOCK:
        previous = os.environ.get(_ENV_VAR)
        os.environ[_ENV_VAR] = str(path)
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(_ENV_VAR, None)
            else:
                os.environ[_ENV_VAR] = previous


def _check_field(value: str, what: str) -> None:
    # ':' separates fields and a newline separates users in pyspnego's file format; a backslash in
    # a user name would be read as a domain separator.
    forbidden = ":\r\n" + ("\\" if what == "user" else "")
    if any(char in value for char in forbidden):
        raise ValueError(f"NTLM {what} names cannot contain {forbidden!r}: {value!r}")
    if what == "user" and not value:
        raise ValueError("NTLM user name must not be empty")


def _user_file_line(domain: str, user: str, password: str) -> str:
    _check_field(domain, "domain")
    _check_field(user, "user")
    name = f"{domain}\\{user}" if domain else user
    lm_hash = lmowfv1(password).hex().upper()
    nt_hash = ntowfv1(password).hex().upper()
    # smbpasswd layout: USER:UID:LM:NT:FLAGS:LAST-CHANGE; pyspnego only reads the user and hashes.
    return f"{name}:0:{lm_hash}:{nt_hash}:[U]:LCT-00000000\n"


def _principal(domain: str, user: str) -> str:
    return f"{domain}\\{user}" if domain else user


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


class NtlmContext:
    """One NTLM handshake (one client connection). Create it with ``NtlmAcceptor.new_context``."""

    def __init__(
        self, context: spnego.ContextProxy, user_file: Path, principals: dict[tuple[str, str], str]
    ) -> None:
        self._context = context
        self._user_file = user_file
        self._principals = principals
        self._principal: str | None = None
        self._failed = False
        # The file must go once the handshake is over, or when an abandoned context is collected.
        self._cleanup = weakref.finalize(self, _unlink, user_file)

    @property
    def complete(self) -> bool:
        return self._principal is not None

    @property
    def principal(self) -> str | None:
        return self._principal

    def step(self, token_b64: str) -> NtlmStep:
        """Feed the client's token (the base64 after ``NTLM `` in ``Authorization``)."""
        if self._failed or self.complete:
            raise NtlmError("this NTLM context is finished; start a new one")
        try:
            in_token = base64.b64decode(token_b64.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            self._fail()
            raise NtlmError("the NTLM token is not valid base64") from exc
        try:
            with _user_file_in_environment(self._user_file):
                out_token = self._context.step(in_token)
        except (SpnegoError, ValueError, KeyError, IndexError, OSError) as exc:
            # pyspnego raises its own errors for wrong passwords and unknown users, but plain
            # struct/value errors for truncated or garbage tokens.
            self._fail()
            raise NtlmError(f"NTLM authentication failed: {type(exc).__name__}") from exc
        out_b64 = base64.b64encode(out_token).decode("ascii") if out_token else None
        if not self._context.complete:
            return NtlmStep(out_token_b64=out_b64, complete=False, principal=None)
        self._principal = self._canonical_principal()
        self._cleanup()
        return NtlmStep(out_token_b64=out_b64, complete=True, principal=self._principal)

    def _canonical_principal(self) -> str:
        # pyspnego reports the names in the case the client typed; report the configured spelling.
        reported = self._context.client_principal or ""
        domain, _, user = reported.rpartition("\\")
        return self._principals.get((domain.upper(), user.upper()), reported)

    def _fail(self) -> None:
        self._failed = True
        self._cleanup()

    def close(self) -> None:
        self._cleanup()


class NtlmAcceptor:
    """Accepts NTLM logins for the users that ``credentials()`` returns at the time."""

    def __init__(self, credentials: Callable[[], Iterable[tuple[str, str, str]]]) -> None:
        self._credentials = credentials
        self._directory = Path(tempfile.mkdtemp(prefix="ews-sim-ntlm-"))  # created 0700
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._directory, ignore_errors=True)

    def new_context(self) -> NtlmContext:
        """A context for one new connection, with the credentials as they are right now."""
        lines: list[str] = []
        principals: dict[tuple[str, str], str] = {}
        for domain, user, password in self._credentials():
            lines.append(_user_file_line(domain, user, password))
            principals[(domain.upper(), user.upper())] = _principal(domain, user)
        # With no users the file is empty and every AUTHENTICATE fails in step(), like a bad one.
        user_file = self._write_user_file("".join(lines))
        with _user_file_in_environment(user_file):
            # use_ntlm pins pyspnego's own implementation: with python-gssapi and gss-ntlmssp
            # installed it would otherwise pick GSSAPI, which reads the user file differently.
            context = spnego.server(protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)
        return NtlmContext(context, user_file, principals)

    def _write_user_file(self, text: str) -> Path:
        fd, name = tempfile.mkstemp(dir=self._directory, prefix="users-", suffix=".txt")
        # mkstemp creates the file 0600, so the hashes are never readable by others.
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return Path(name)

    def close(self) -> None:
        """Remove the temporary directory with every user file still on disk."""
        self._finalizer()

    def __enter__(self) -> NtlmAcceptor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
