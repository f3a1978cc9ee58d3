"""A thin Microsoft Graph client: JSON over `calendars.transport`, Bearer tokens from msal.

Why not msgraph-sdk: it builds a typed object (kiota's parse nodes, backing stores) for every
value of every answer and brings azure-core, kiota and their dependencies with it. This
product's largest CPU cost per free/busy call was exactly that kind of object model
(exchangelib's, see backends/ews_busy.py); a busy-time read needs three values per event,
which a dict from `response.json()` gives for the price of the JSON parser.

What every request gets here:
- the TLS 1.2+ transport with every connection's address vetted by the SSRF guard and pinned
  (calendars/transport.py), keep-alive sessions pooled per connection and sized for the
  parallel busy-time reads;
- `Authorization: Bearer` from `oauth.graph_access_token`; a 401 gets a fresh token once
  (revoked, or the app's permissions changed) before it counts as a failed sign-in;
- Graph's errors mapped onto the product's (calendars/errors.py), with messages naming the
  mailbox; never a token or an event's content in a message, a log or a sync log row.

Throttling (429, 503) is raised as Throttled(back_off=Retry-After), never slept on here, as
the EWS backend's FailFast does: a web request waiting out a back-off holds a worker for
seconds, and trying again at once is exactly what a mailbox asking us to slow down counts
against us. The callers already know what to do with it: busy time serves its last answer
(calendars/busy.py) and Celery tasks retry after `back_off`. What this client does do is
stay under Graph's limit of 4 concurrent requests per app per mailbox, so the parallel
getSchedule batches (all addressed to one mailbox) don't throttle themselves.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from calendars import oauth, transport
from calendars.backends.base import SyncStateLost
from calendars.errors import (
    AccessDenied,
    AuthenticationFailed,
    EditConflict,
    ExchangeError,
    ExchangeUnavailable,
    ItemNotFound,
    MailboxNotFound,
    MailboxOnPremises,
    ServerUnreachable,
    Throttled,
    UrlNotAllowed,
    translate,
)
from calendars.models import AuthType, ExchangeConnection
from calendars.urlcheck import HostNotFound, check_url

# Graph allows 4 concurrent requests per app per mailbox; a fifth is answered 429.
MAILBOX_CONCURRENCY = 4
# Keep-alive connections per session: the busy-time pool's 16 threads, each able to hold one.
POOL_SIZE = 16

# Graph's error codes for "no such mailbox or user".
_NO_MAILBOX = {
    "ErrorInvalidUser",
    "ErrorNonExistentMailbox",
    "MailboxNotFound",
    "Request_ResourceNotFound",
    "ErrorMailRecipientNotFound",
}
_NO_ITEM = {"ErrorItemNotFound", "ResourceNotFound", "ErrorFolderNotFound", "itemNotFound"}
_CONFLICT = {"ErrorIrresolvableConflict", "ErrorInvalidChangeKey", "PreconditionFailed"}
# Delta tokens Graph no longer accepts (expired, another window, corrupt) come back 410 or
# as one of these 400s.
_LOST_STATE = {
    "SyncStateNotFound",
    "SyncStateInvalid",
    "ErrorInvalidSyncStateData",
    "InvalidSyncToken",
    "resyncRequired",
    "syncStateNotFound",
}
_DENIED = {"ErrorAccessDenied", "AccessDenied", "Authorization_RequestDenied", "accessDenied"}


def path_for(*segments: str) -> str:
    """A Graph path from raw segments, each quoted ("/" and "=" in Exchange ids, "@" kept)."""
    return "".join("/" + quote(segment, safe="@") for segment in segments)


def user_path(mailbox: str, *segments: str) -> str:
    return path_for("users", mailbox.strip().lower(), *segments)


class GraphClient:
    """One connection's Graph session. Thread-safe: busy-time reads share it."""

    def __init__(self, connection: ExchangeConnection) -> None:
        self.connection = connection
        # The SSRF guard on the configured base (national clouds and the demo change it);
        # every connection the session opens is vetted again by the transport.
        try:
            self.base = check_url(settings.MICROSOFT_GRAPH_URL).rstrip("/")
        except HostNotFound as exc:
            # DNS down is the network's problem, not a setting to change (as the transport
            # reports it for every connection).
            raise ServerUnreachable(
                "Microsoft Graph could not be reached.", detail=str(exc)
            ) from exc
        self.http = _session()
        self._slots_lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    def close(self) -> None:
        self.http.close()

    # --- requests ----------------------------------------------------------------------

    def get(self, path: str, *, mailbox: str, **kwargs: Any) -> dict[str, Any]:
        return self.request("GET", path, mailbox=mailbox, **kwargs) or {}

    def pages(
        self, path: str, *, mailbox: str, params: dict[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Each page of a collection, following `@odata.nextLink` to the end."""
        page = self.get(path, mailbox=mailbox, params=params)
        while True:
            yield page
            link = page.get("@odata.nextLink")
            if not link:
                return
            page = self.get(link, mailbox=mailbox)

    def request(
        self,
        method: str,
        path: str,
        *,
        mailbox: str,
        params: dict[str, str] | None = None,
        body: Any = None,
        prefer: tuple[str, ...] = (),
    ) -> dict[str, Any] | None:
        """One call; `path` is below the base URL, or a full link Graph gave (nextLink,
        deltaLink), which must point below the base. `mailbox` is whose data this is: it
        names the mailbox in error messages and counts against its concurrency limit.
        Returns the JSON answer, or None for an empty one (204)."""
        url = self.absolute(path)
        headers = {"Accept": "application/json"}
        # Immutable ids everywhere: an id the app stored survives the owner moving the
        # event, and ids from create, find, delta and event reads compare equal.
        headers["Prefer"] = ", ".join(('IdType="ImmutableId"', *prefer))
        with self._slot(mailbox):
            response = self._send(method, url, params, body, headers, force=False)
            if response.status_code == 401:
                # msal's cached token was refused (revoked, permissions changed): once more
                # with a fresh one before calling the sign-in failed.
                response.close()
                response = self._send(method, url, params, body, headers, force=True)
        if response.ok and (response.status_code == 204 or not response.content):
            return None
        if response.ok:
            try:
                return response.json()
            except ValueError as exc:
                raise ExchangeError(
                    "Microsoft Graph answered with something that is not JSON.",
                    detail=f"{method} {urlsplit(url).path}: {response.status_code}",
                ) from exc
        raise self._error(response, mailbox)

    def absolute(self, path: str) -> str:
        if not path.startswith(("https://", "http://")):
            return self.base + path
        # A link from an answer is followed only below our base: a hostile or confused
        # server must not steer us (and our token) anywhere else.
        if path == self.base or path.startswith(self.base + "/"):
            return path
        raise UrlNotAllowed("Microsoft Graph sent a link outside its own address.")

    @sensitive_variables()  # the token
    def _send(
        self,
        method: str,
        url: str,
        params: dict[str, str] | None,
        body: Any,
        headers: dict[str, str],
        *,
        force: bool,
    ) -> requests.Response:
        token = oauth.graph_access_token(self.connection, force=force)
        try:
            return self.http.request(
                method,
                url,
                params=params,
                json=body,
                headers={**headers, "Authorization": f"Bearer {token}"},
                timeout=settings.EXCHANGE_TIMEOUT,
            )
        except requests.exceptions.Timeout as exc:
            raise ServerUnreachable(
                "Microsoft Graph did not answer in time.", detail=type(exc).__name__
            ) from exc
        except requests.exceptions.RequestException as exc:
            error = translate(exc)  # the SSRF guard's refusal, TLS problems, the network
            if type(error) is ServerUnreachable or type(error) is ExchangeError:
                error = ServerUnreachable(
                    "Microsoft Graph could not be reached.", detail=error.detail
                )
            raise error from exc

    @contextmanager
    def _slot(self, mailbox: str) -> Iterator[None]:
        key = mailbox.strip().lower()
        with self._slots_lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = threading.BoundedSemaphore(MAILBOX_CONCURRENCY)
        with slot:
            yield

    # --- errors ------------------------------------------------------------------------

    def _error(self, response: requests.Response, mailbox: str) -> ExchangeError:
        status = response.status_code
        code, text = _error_code(response)
        detail = f"{status} {code}".strip()
        app_only = self.connection.auth_type == AuthType.OAUTH_APP
        if status in (429, 503):
            back_off = _retry_after(response)
            if status == 503 and back_off is None and code not in ("", "ServiceUnavailable"):
                return ExchangeUnavailable(detail=detail)
            return Throttled(
                "Microsoft Graph is busy and asked us to slow down. We will try again shortly.",
                back_off=back_off,
            )
        if status == 401:
            return AuthenticationFailed(
                "Microsoft Graph refused the connection's sign-in. Connect with Microsoft "
                "again, or check the app registration's permissions for Microsoft Graph."
                if not app_only
                else "Microsoft Graph refused the app's sign-in. Check that the app "
                "registration has been granted the Microsoft Graph calendar permissions.",
                detail=detail,
            )
        if code == "MailboxNotEnabledForRESTAPI" or code == "MailboxNotSupportedForRESTAPI":
            return MailboxOnPremises(
                f"The mailbox {mailbox} is on the organisation's own Exchange Server "
                "(on-premises), which Microsoft Graph can't reach. It is reached over EWS: "
                "connect to that server with an EWS connection.",
                detail=detail,
            )
        if status == 410 or code in _LOST_STATE:
            return SyncStateLost(detail=detail)
        if status == 403 or code in _DENIED:
            return AccessDenied(self._denied_message(mailbox), detail=detail)
        if code in _NO_MAILBOX:
            return MailboxNotFound(f"Exchange Online has no mailbox {mailbox}.", detail=detail)
        if status == 404 or code in _NO_ITEM:
            return ItemNotFound(detail=detail)
        if status in (409, 412) and code in _CONFLICT:
            return EditConflict(detail=detail)
        if status >= 500:
            return ExchangeUnavailable(detail=detail)
        del text  # Graph's message may quote a subject or an address: kept out of `detail`
        return ExchangeError(
            f"Microsoft Graph answered with an error: {code or status}.", detail=detail
        )

    def _denied_message(self, mailbox: str) -> str:
        if self.connection.auth_type == AuthType.OAUTH_APP:
            return (
                f"Microsoft Graph does not let the app reach the calendar of {mailbox}: the "
                "mailbox is outside the app's RBAC for Applications scope in Exchange Online "
                '(the management scope of its "Application Calendars.ReadWrite" role '
                "assignment), or the app registration lacks the Calendars permission."
            )
        return (
            f"{mailbox} has not shared this calendar with {self.connection.email}, or "
            "not with enough rights. Ask them to share it (Editor or Delegate for bookings)."
        )


def _error_code(response: requests.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("code") or ""), str(error.get("message") or "")


def _retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds (Graph sends an integer); None when absent or a date."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _session() -> requests.Session:
    http = transport.session()
    # transport's adapter with a pool sized for the parallel reads: requests' default keeps
    # 10 connections per host and opens (and throws away) more when 16 threads call at once.
    adapter = transport.TlsAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    http.mount("https://", adapter)
    http.mount("http://", adapter)
    if settings.EXCHANGE_CA_BUNDLE:
        # As oauth's session: with trust_env on, REQUESTS_CA_BUNDLE would override ours.
        http.trust_env = False
        http.verify = settings.EXCHANGE_CA_BUNDLE
    return http


# --- one client per connection, per process ----------------------------------------------

_lock = threading.Lock()
_clients: dict[int, tuple[tuple[Any, ...], GraphClient]] = {}


@sensitive_variables()
def _fingerprint(conn: ExchangeConnection) -> tuple[Any, ...]:
    # What the session depends on, plus what tells a reused primary key apart (SQLite reuses
    # them). Tokens are not in the session: oauth keys its own cache by the credentials.
    secret = hashlib.sha256(conn.oauth_client_secret.encode()).hexdigest()
    return (
        conn.credential_version,
        conn.created,
        conn.email,
        conn.auth_type,
        secret,
        settings.MICROSOFT_GRAPH_URL,
        settings.EXCHANGE_CA_BUNDLE,
    )


def client_for(conn: ExchangeConnection) -> GraphClient:
    """The connection's client (kept per process; an unsaved candidate gets its own)."""
    if not conn.pk:
        return GraphClient(conn)
    fingerprint = _fingerprint(conn)
    with _lock:
        cached = _clients.get(conn.pk)
        if cached and cached[0] == fingerprint:
            cached[1].connection = conn  # the newest copy (a rotated refresh token)
            return cached[1]
    client = GraphClient(conn)
    with _lock:
        old = _clients.get(conn.pk)
        _clients[conn.pk] = (fingerprint, client)
    if old:
        old[1].close()
    return client


def forget(conn_pk: int) -> None:
    with _lock:
        cached = _clients.pop(conn_pk, None)
    if cached:
        cached[1].close()


def forget_all_after_fork() -> None:
    """A forked child must not share its parent's sockets."""
    global _lock
    _clients.clear()
    _lock = threading.Lock()
