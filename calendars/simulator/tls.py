"""A throw-away certificate authority and TLS helpers for the simulators.

Everything here exists so tests and the demo can speak real HTTPS over loopback: msal refuses
plain-http authorities, and the app's certificate checks need a server it can trust (signed by
this CA), one it must not trust (self-signed) and one it must refuse (expired).

Keys live only in a temporary directory (mode 0700, files 0600) that is removed by
``TestCA.close()``, by the context manager, or at interpreter exit. Nothing here is ever meant to
be committed.

What is possible with old protocol versions on this machine (Python 3.11, OpenSSL 3.0, Debian):
OpenSSL 3 refuses TLS 1.0/1.1 at its default security level (1), but
``server_context(cert, key, maximum_version=ssl.TLSVersion.TLSv1_1)`` lowers the security level to
0 (``DEFAULT:@SECLEVEL=0``) and then a server that speaks *only* TLS 1.0 or 1.1 does work: a client
that also allows old versions completes the handshake, while a default client (``requests``,
``ssl.create_default_context()``) fails with ``TLSV1_ALERT_PROTOCOL_VERSION``. That is what the
app's "TLS below 1.2 is refused" test needs. tests/simulator/test_tls.py proves both halves.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import ssl
import sys
import tempfile
import warnings
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DNS_NAMES: tuple[str, ...] = ("localhost",)
DEFAULT_IP_ADDRESSES: tuple[str, ...] = ("127.0.0.1", "::1")

# How long a freshly issued certificate is valid; the backdating absorbs small clock skew.
_VALIDITY = timedelta(days=7)
_BACKDATE = timedelta(minutes=5)


@dataclass(frozen=True)
class IssuedCertificate:
    """PEM files of one server certificate and its private key."""

    cert_path: Path
    key_path: Path


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256 keys are generated in microseconds (RSA takes ~100 ms), which matters when every
    # test builds its own CA, and still negotiate with TLS 1.0 at security level 0.
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Exchange Simulator (tests only)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _subject_alt_names(dns_names: Iterable[str], ip_addresses: Iterable[str]) -> x509.Extension:
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    return x509.Extension(
        x509.SubjectAlternativeName.oid, False, x509.SubjectAlternativeName(names)
    )


def _server_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer_public_key: ec.EllipticCurvePublicKey,
    dns_names: Iterable[str],
    ip_addresses: Iterable[str],
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    san = _subject_alt_names(dns_names, ip_addresses)
    # The extensions a strict verifier (Python 3.13's VERIFY_X509_STRICT) insists on.
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(san.value, critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), critical=False
        )
    )


def _write_private(path: Path, data: bytes) -> None:
    # Create with 0600 from the start so the key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class TestCA:
    """A certificate authority generated in memory, with PEM files in a private directory.

    >>> with TestCA() as ca:
    ...     issued = ca.issue_server_certificate()
    ...     ctx = server_context(issued.cert_path, issued.key_path)
    ...     # clients trust ca.ca_cert_path
    """

    __test__ = False  # The name starts with "Test"; stop pytest from collecting it.

    def __init__(
        self,
        directory: str | Path | None = None,
        common_name: str = "Exchange Simulator Test CA",
    ) -> None:
        self._owns_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="ews-sim-tls-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self._key = _new_key()
        self._cert = self._build_ca_certificate(common_name)
        self.ca_cert_path = self.directory / "ca.pem"
        self.ca_cert_path.write_bytes(self.ca_cert_pem)
        self._counter = 0
        # Remove the directory (and its keys) even if close() is never called.
        self._finalizer = weakref.finalize(
            self, _remove_directory, self.directory, self._owns_directory
        )

    def _build_ca_certificate(self, common_name: str) -> x509.Certificate:
        now = datetime.now(UTC)
        public_key = self._key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_encipherment=False,
                    content_commitment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )
        return builder.sign(self._key, hashes.SHA256())

    @property
    def ca_cert_pem(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.PEM)

    def issue_server_certificate(
        self,
        dns_names: Iterable[str] = DEFAULT_DNS_NAMES,
        ip_addresses: Iterable[str] = DEFAULT_IP_ADDRESSES,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        name: str | None = None,
    ) -> IssuedCertificate:
        """Issue a server certificate signed by this CA, valid for the given names."""
        dns_names, ip_addresses = list(dns_names), list(ip_addresses)
        now = datetime.now(UTC)
        key = _new_key()
        builder = _server_builder(
            subject=_name(dns_names[0] if dns_names else ip_addresses[0]),
            issuer=self._cert.subject,
            public_key=key.public_key(),
            issuer_public_key=self._key.public_key(),
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            not_before=not_before or now - _BACKDATE,
            not_after=not_after or now + _VALIDITY,
        )
        return self._write(builder.sign(self._key, hashes.SHA256()), key, name or "server")

    def issue_expired_server_certificate(
        self,
        dns_names: Iterable[str] = DEFAULT_DNS_NAMES,
        ip_addresses: Iterable[str] = DEFAULT_IP_ADDRESSES,
    ) -> IssuedCertificate:
        """Issue a certificate signed by this CA that expired yesterday."""
        now = datetime.now(UTC)
        return self.issue_server_certificate(
            dns_names,
            ip_addresses,
            not_before=now - timedelta(days=30),
            not_after=now - timedelta(days=1),
            name="expired",
        )

    def issue_self_signed_certificate(
        self,
        dns_names: Iterable[str] = DEFAULT_DNS_NAMES,
        ip_addresses: Iterable[str] = DEFAULT_IP_ADDRESSES,
    ) -> IssuedCertificate:
        """A currently valid certificate for the right names that this CA did NOT sign."""
        dns_names, ip_addresses = list(dns_names), list(ip_addresses)
        now = datetime.now(UTC)
        key = _new_key()
        subject = _name(dns_names[0] if dns_names else ip_addresses[0])
        builder = _server_builder(
            subject=subject,
            issuer=subject,
            public_key=key.public_key(),
            issuer_public_key=key.public_key(),
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            not_before=now - _BACKDATE,
            not_after=now + _VALIDITY,
        )
        return self._write(builder.sign(key, hashes.SHA256()), key, "self-signed")

    def _write(
        self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, name: str
    ) -> IssuedCertificate:
        # A counter keeps several certificates of the same kind from overwriting each other.
        self._counter += 1
        stem = f"{name}-{self._counter}"
        cert_path = self.directory / f"{stem}.pem"
        key_path = self.directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_private(key_path, _key_pem(key))
        return IssuedCertificate(cert_path=cert_path, key_path=key_path)

    def close(self) -> None:
        """Delete the directory with all keys (only if this CA created it)."""
        self._finalizer()

    def __enter__(self) -> TestCA:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _remove_directory(directory: Path, owned: bool) -> None:
    if owned:
        shutil.rmtree(directory, ignore_errors=True)


def server_context(
    cert_path: str | Path,
    key_path: str | Path,
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    maximum_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """An SSLContext for a server presenting ``cert_path``.

    A ``maximum_version`` below ``minimum_version`` lowers the minimum to match, so
    ``maximum_version=ssl.TLSVersion.TLSv1_1`` alone builds a server that speaks only TLS <= 1.1.
    Any version below 1.2 also drops OpenSSL's security level to 0, without which OpenSSL 3
    refuses to negotiate TLS 1.0/1.1 at all (see the module docstring).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert_path), str(key_path))
    if maximum_version is not None and maximum_version < minimum_version:
        minimum_version = maximum_version
    legacy = minimum_version < ssl.TLSVersion.TLSv1_2
    if legacy:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    # Python deprecates TLS 1.0/1.1 and warns when they are named; here they are deliberate.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = minimum_version
        if maximum_version is not None:
            ctx.maximum_version = maximum_version
    return ctx


def legacy_client_context(
    ca_cert_path: str | Path, maximum_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """A verifying client context that still allows TLS 1.0/1.1.

    Only for proving in tests that a legacy server really works (or that a modern server
    refuses an old client); the app itself must never build such a context.
    """
    ctx = ssl.create_default_context(cafile=str(ca_cert_path))
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        if maximum_version is not None:
            ctx.maximum_version = maximum_version
    return ctx


class ThreadingHTTPSServer(ThreadingHTTPServer):
    """ThreadingHTTPServer speaking TLS, with the handshake done in the connection's thread.

    Wrapping the listening socket instead would run every handshake inside ``accept()`` on the
    serving thread, so one stalled or untrusting client would block all others, and a failed
    handshake would print a traceback. Here each accepted socket is wrapped unhandshaken and the
    handshake runs in the per-connection thread; failures are expected in tests (clients that do
    not trust the CA) and are dropped quietly.
    """

    daemon_threads = True
    handshake_timeout: float = 10.0

    def __init__(
        self,
        server_address: tuple[str, int],
        handler_class: type[BaseHTTPRequestHandler],
        ssl_context: ssl.SSLContext,
    ) -> None:
        self.ssl_context = ssl_context
        if ":" in server_address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(server_address, handler_class)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        wrapped = self.ssl_context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.settimeout(self.handshake_timeout)
            request.do_handshake()
            request.settimeout(None)
        except (OSError, ssl.SSLError):
            return  # The client went away or refused our certificate: nothing to serve.
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Resets and timeouts mid-request are routine when tests drop sessions; stay quiet about
        # those but keep the traceback for real bugs in a handler.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError | ssl.SSLError):
            return
        super().handle_error(request, client_address)
