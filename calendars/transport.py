"""The one HTTP transport for everything that reaches Exchange: EWS and Autodiscover (every
exchangelib session, through BaseProtocol.HTTP_ADAPTER_CLS) and the OAuth authority (msal's
session, calendars/oauth.py).

- Certificates are verified (EXCHANGE_CA_BUNDLE added to the trusted ones), TLS 1.2 or newer.
- Every new TCP connection vets its host through the SSRF guard (calendars/urlcheck.py) and
  connects to one of the very addresses the guard accepted. Resolving once for the guard and
  again for the connection would let a hostile DNS server answer a public address to the first
  and 127.0.0.1 to the second (DNS rebinding). The connection keeps the host *name*, so TLS
  sends it as SNI, the certificate is verified for it and the Host header carries it; only the
  socket goes to the pinned address. Pooled connections are reused as before: the check costs
  one resolution per new connection (which urllib3 made anyway), never one per request. A
  redirect that requests follows (msal's session) opens its connection here too, so each hop
  is vetted; a stored URL is vetted again on every new connection, so a setting turned off
  applies to URLs saved before.
- exchangelib reads every answer through iter_content(), one byte at a time by default; our
  responses hand it 64 KiB chunks.

Through an HTTP proxy (HTTPS_PROXY in the environment) the proxy resolves names, so it cannot
be pinned here: a site that routes Exchange traffic through a proxy enforces egress there.
"""

from __future__ import annotations

import socket
import ssl
import sys
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

from calendars.errors import UrlNotAllowed
from calendars.urlcheck import HostNotFound, allowed_addresses


def _ssl_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.EXCHANGE_CA_BUNDLE:
        ctx.load_verify_locations(settings.EXCHANGE_CA_BUNDLE)
    return ctx


class RefusedByGuard(NewConnectionError):
    """The guard refused the host of a new connection. A NewConnectionError, so requests and
    exchangelib treat it as the failed connection it is (no retry, the session is retired);
    `refusal` carries the guard's message to calendars.errors.translate()."""

    def __init__(self, conn: HTTPConnection, refusal: UrlNotAllowed) -> None:
        self.refusal = refusal
        super().__init__(conn, refusal.message)


class _PinnedConnection(HTTPConnection):
    """Opens its socket to an address the guard accepted for its host, resolved once, here;
    everything else (TLS, SNI, hostname verification, the Host header) still uses the name."""

    def _new_conn(self) -> socket.socket:
        scheme = "https" if isinstance(self, HTTPSConnection) else "http"
        try:
            addresses = allowed_addresses(scheme, self.host)
        except HostNotFound as exc:
            # DNS down is a network problem ("could not be reached", try again), not a URL
            # someone must change: the resolver's error, without the guard's refusal behind it.
            cause = exc.__cause__ if isinstance(exc.__cause__, socket.gaierror) else None
            raise NameResolutionError(
                self.host, self, cause or socket.gaierror(str(exc))
            ) from cause
        except UrlNotAllowed as exc:
            raise RefusedByGuard(self, exc) from exc
        error: Exception | None = None
        # Each address in the resolver's order, as urllib3's own create_connection does.
        for address in addresses:
            try:
                sock = create_connection(
                    (str(address), self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                error = ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                )
                error.__cause__ = exc
            except OSError as exc:
                error = NewConnectionError(self, f"Failed to establish a new connection: {exc}")
                error.__cause__ = exc
            else:
                sys.audit("http.client.connect", self, self.host, self.port)
                return sock
        assert error is not None  # allowed_addresses() never returns an empty list
        raise error


class _PinnedHTTPSConnection(_PinnedConnection, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class TlsAdapter(requests.adapters.HTTPAdapter):
    """Certificates verified, TLS 1.2 or newer, every connection's address vetted and pinned."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = _ssl_context()
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PinnedHTTPPool,
            "https": _PinnedHTTPSPool,
        }

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        if verify is True and settings.EXCHANGE_CA_BUNDLE:
            verify = settings.EXCHANGE_CA_BUNDLE
        super().cert_verify(conn, url, verify, cert)

    def build_response(self, req: Any, resp: Any) -> requests.Response:
        response = super().build_response(req, resp)
        response.__class__ = _ChunkedResponse
        return response


class _ChunkedResponse(requests.Response):
    """exchangelib parses every answer through `response.iter_content()`, whose default chunk
    size is one byte: a Python-level loop per byte, the largest CPU cost of a free/busy call
    (~20 ms for 5 mailboxes over a week). Same bytes, 64 KiB at a time."""

    def iter_content(self, chunk_size: int | None = 64 * 1024, decode_unicode: bool = False) -> Any:
        return super().iter_content(chunk_size=chunk_size, decode_unicode=decode_unicode)


def session() -> requests.Session:
    """A requests session whose every connection goes through TlsAdapter (msal's)."""
    http = requests.Session()
    adapter = TlsAdapter()
    http.mount("https://", adapter)
    http.mount("http://", adapter)
    return remember_environment(http)


def remember_environment(http: requests.Session) -> requests.Session:
    """Read the proxy settings from the environment once per host, not on every request.

    requests looks at HTTP(S)_PROXY/NO_PROXY (and the CA bundle variables) for every request,
    walking the whole environment twice; with the dozens of variables a container gets, that
    was a noticeable part of a busy-time request's CPU. The environment of a running process
    doesn't change, so the answer for a host is kept: the same settings, read once."""
    merge = http.merge_environment_settings
    known: dict[tuple[str, Any, Any, Any], dict[str, Any]] = {}

    def merge_environment_settings(
        url: str, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if proxies or not isinstance(verify, bool | None) or not isinstance(cert, str | None):
            return merge(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (f"{parts.scheme}://{parts.netloc}", stream, verify, cert)
        found = known.get(key)
        if found is None:
            found = known[key] = merge(key[0] + "/", {}, stream, verify, cert)
        return {**found, "proxies": dict(found["proxies"])}

    http.merge_environment_settings = merge_environment_settings  # type: ignore[method-assign]
    return http
