"""The simulator's HTTP side: a threaded HTTP/1.1 server speaking EWS SOAP and autodiscover,
with Basic / NTLM / Bearer authentication, injectable faults and a request log.

`Simulator` is the public face (see __init__.py); `_Handler` serves one client connection.
Connections are kept alive because NTLM authenticates a connection, not a request, and
because exchangelib treats any non-200 answer carrying `Connection: close` as throttling.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import random
import socket
import ssl
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from lxml import etree

from . import autodiscover, timezones
from .ews.operations import Context, operation_name, operations
from .ews.soap import (
    M_NS,
    SERVER_BUILDS,
    SOAP_NS,
    T_NS,
    EWSError,
    envelope,
    fault,
    serialize,
    t,
)
from .model import Folder, Mailbox, SentMail, Store, new_change_key

EWS_PATH = "/ews/exchange.asmx"
AUTODISCOVER_PATH = "/autodiscover/autodiscover.svc"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_LOCKED_DIAGNOSTIC = '2000000;reason="The user account is locked.";error_category="account_locked"'
_BAD_TOKEN_DIAGNOSTIC = (
    '2000001;reason="The token has expired or is invalid.";error_category="invalid_token"'
)
_BAD_PASSWORD_DIAGNOSTIC = (
    '2000000;reason="The user name or password is incorrect.";error_category="invalid_user"'
)


@dataclass(frozen=True)
class LogEntry:
    """One HTTP request as the simulator saw it."""

    timestamp: datetime
    operation: str  # "FindItem", "GetUserSettings", ... ("" if the body could not be parsed)
    caller: str | None  # authenticated principal: smtp, DOMAIN\\user or "app:<client id>"
    target: str | None  # mailbox(es) acted on, comma-separated
    outcome: str  # "NoError", the first error code, or e.g. "HTTP 401" / "dropped"
    status: int  # HTTP status (0 when the connection was dropped)
    duration: float  # seconds
    auth: str | None = None  # "basic", "ntlm" or "bearer"
    host: str | None = None  # the Host header: which name the client asked for


@dataclass
class _Faults:
    """Injected failures. Counters are consumed one request at a time."""

    latency: float = 0.0
    op_latency: dict[str, float] = field(default_factory=dict)
    throttle_count: int = 0
    throttle_percent: float = 0.0
    back_off_ms: int = 0
    http_status: int = 503
    http_count: int = 0
    drop_count: int = 0
    before: dict[str, list[Callable[[], None]]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Identity:
    principal: str  # for the log
    mailbox: str | None  # lower-case smtp of the user; None for app-only tokens
    method: str
    app_id: str | None = None
    app_roles: frozenset[str] = frozenset()


class _Unauthorized(Exception):
    def __init__(self, headers: dict[str, str] | None = None, body: str = "") -> None:
        super().__init__(body)
        self.headers = headers or {}
        self.body = body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        if self.sim.ssl_context is not None:
            sock = self.sim.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(10)
                request.do_handshake()
                request.settimeout(None)
            except (OSError, ssl.SSLError):
                return  # a client that does not trust us: nothing to serve
        self.sim._track(request, True)
        try:
            super().finish_request(request, client_address)
        finally:
            self.sim._track(request, False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Connections reset by clients (or by go_down()) are routine here.
        return


class Simulator:
    """A local Exchange 2016/2019 EWS endpoint for tests and demos.

    ::

        with Simulator() as sim:
            sim.add_mailbox("alice@example.com", "Alice", "pw")
            account = Account("alice@example.com", config=Configuration(
                service_endpoint=sim.ews_url, credentials=Credentials("alice@example.com", "pw"),
                auth_type=BASIC), autodiscover=False, access_type=DELEGATE)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float = 0.0,
        exchange_version: str = "Exchange2016",
        auth_methods: Sequence[str] = ("basic",),
        identity_provider: Any = None,
        validate_schema_dir: str | Path | None = None,
        ssl_context: ssl.SSLContext | None = None,
        find_count_limit: int = 1000,
    ) -> None:
        if exchange_version not in SERVER_BUILDS:
            raise ValueError(f"exchange_version must be one of {sorted(SERVER_BUILDS)}")
        unknown = set(auth_methods) - {"basic", "ntlm", "bearer"}
        if unknown:
            raise ValueError(f"unknown auth methods {sorted(unknown)}")
        self.host = host
        self.exchange_version = exchange_version
        self.auth_methods = tuple(auth_methods)
        self.ssl_context = ssl_context
        self.store = Store()
        self.store.find_count_limit = find_count_limit
        self.schema_errors: list[str] = []
        self.internal_errors: list[str] = []  # tracebacks of simulator bugs (tests assert none)
        self._schema = None
        if validate_schema_dir is not None:
            from .ews.schema import load_schema

            self._schema = load_schema(str(validate_schema_dir))
        self._identity_provider = identity_provider
        if identity_provider is not None and "bearer" not in self.auth_methods:
            self.auth_methods += ("bearer",)
        self._impersonators: set[str] = set()
        self._faults = _Faults(latency=latency)
        self._faults_lock = threading.Lock()
        self._log: list[LogEntry] = []
        self._log_lock = threading.Lock()
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[Any] = set()
        self._connections_lock = threading.Lock()
        self._ntlm: Any = None
        # Graph: requests in flight per (application, mailbox), for Outlook's limit of 4
        # concurrent requests per app per mailbox, and the delta queries' saved states.
        self.graph_max_concurrency = 4
        self._graph_in_flight: dict[tuple[str, str], int] = {}
        self._graph_lock = threading.Lock()
        self.graph_state: dict[str, Any] = {}
        self.ews_blocked: str | None = None  # see block_ews

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self._server = _Server((self.host, self._port), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ews-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.go_down()
        if self._ntlm is not None:
            self._ntlm.close()
            self._ntlm = None

    def go_down(self) -> None:
        """Stop listening and cut open connections: clients get 'connection refused'."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._connections_lock:
            open_connections = list(self._connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def come_up(self) -> None:
        """Listen again on the same port."""
        self.start()

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _track(self, conn: Any, add: bool) -> None:
        with self._connections_lock:
            (self._connections.add if add else self._connections.discard)(conn)

    @property
    def find_count_limit(self) -> int:
        """EWSFindCountLimit: how many entries one FindItem may return (Exchange's default
        throttling policy: 1000). A CalendarView over more fails with
        ErrorExceededFindCountLimit; an IndexedPageItemView page is cut to it."""
        return self.store.find_count_limit

    @find_count_limit.setter
    def find_count_limit(self, value: int) -> None:
        self.store.find_count_limit = value

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self._port}"

    @property
    def ews_url(self) -> str:
        return f"{self.base_url}/EWS/Exchange.asmx"

    @property
    def graph_url(self) -> str:
        """Microsoft Graph v1.0's base, as `https://graph.microsoft.com/v1.0` is."""
        return f"{self.base_url}/v1.0"

    @property
    def autodiscover_url(self) -> str:
        return f"{self.base_url}/autodiscover/autodiscover.svc"

    # ------------------------------------------------------------------ directory and data

    def add_mailbox(
        self, email: str, display_name: str, password: str, logins: Iterable[str] = ()
    ) -> Mailbox:
        return self.store.add_mailbox(email, display_name, password, list(logins))

    def add_calendar(self, owner: str, name: str, parent: str | None = None) -> str:
        """Create a sub-calendar (child of the primary calendar by default); returns its id."""
        with self.store.lock:
            parent_id = self._calendar(owner, parent).id if parent else None
            return self.store.add_calendar(owner, name, parent_id).id

    def _calendar(self, owner: str, calendar: str | None) -> Folder:
        """A calendar of `owner` by folder id or display name; None means the primary one."""
        mbx = self.store.mailbox(owner)
        if calendar is None:
            return self.store.folders[mbx.calendar_id]
        for folder in self.store.calendars(mbx.smtp):
            if calendar in (folder.id, folder.name):
                return folder
        raise KeyError(f"{owner} has no calendar {calendar!r}")

    def set_permission(
        self, owner: str, grantee: str, level: str, calendar: str | None = None
    ) -> None:
        """Grant `grantee` (an smtp address, "Default" or "Anonymous") a CalendarPermissionLevel
        (or "Delegate") on one of `owner`'s calendars (the primary one by default). An explicit
        "None" for a user overrides Default, as in Exchange."""
        from .permissions import Level

        with self.store.lock:
            folder = self._calendar(owner, calendar)
            folder.permissions[grantee.lower()] = Level.parse(level)
            folder.change_key = new_change_key()

    def add_delegate(
        self,
        owner: str,
        delegate: str,
        calendar: str | None = None,
        *,
        level: str = "Editor",
        view_private_items: bool = True,
        receive_copies: bool = False,
    ) -> None:
        """What Outlook's Delegate Access dialog (or EWS AddDelegate) does: put `delegate` on
        the mailbox's delegate list and grant `level` (Editor, Reviewer, Author or None) on
        the primary calendar. An Editor delegate that sees private items holds the "Delegate"
        level here (Editor on the wire). With `calendar`, only that calendar folder is
        granted Delegate, as Outlook does for a sub-calendar shared to an existing delegate.
        """
        from .model import DelegateEntry
        from .permissions import Level

        if calendar is not None:
            self.set_permission(owner, delegate, "Delegate", calendar)
            return
        wanted = Level.parse(level)
        if wanted not in (Level.NONE, Level.REVIEWER, Level.AUTHOR, Level.EDITOR):
            raise ValueError("a delegate's calendar level is None, Reviewer, Author or Editor")
        grantee = delegate.lower()
        with self.store.lock:
            mbx = self.store.mailbox(owner)
            mbx.delegates = [d for d in mbx.delegates if d.smtp != grantee]
            mbx.delegates.append(
                DelegateEntry(grantee, receive_copies, view_private_items=view_private_items)
            )
            folder_level = (
                Level.DELEGATE if wanted is Level.EDITOR and view_private_items else wanted
            )
            self.set_permission(owner, grantee, folder_level.value)

    def remove_delegate(self, owner: str, delegate: str) -> None:
        """EWS RemoveDelegate: off the delegate list, and its calendar permission goes too."""
        grantee = delegate.lower()
        with self.store.lock:
            mbx = self.store.mailbox(owner)
            mbx.delegates = [d for d in mbx.delegates if d.smtp != grantee]
            self.remove_permission(owner, grantee)

    def grant_full_access(self, owner: str, grantee: str) -> None:
        """Add-MailboxPermission -AccessRights FullAccess: `grantee` opens every folder of
        `owner`'s mailbox, and may read its delegate list (GetDelegate)."""
        with self.store.lock:
            self.store.mailbox(owner).full_access.add(grantee.lower())

    def revoke_full_access(self, owner: str, grantee: str) -> None:
        with self.store.lock:
            self.store.mailbox(owner).full_access.discard(grantee.lower())

    def remove_permission(self, owner: str, grantee: str, calendar: str | None = None) -> None:
        with self.store.lock:
            folder = self._calendar(owner, calendar)
            folder.permissions.pop(grantee.lower(), None)

    def grant_impersonation(self, principal: str) -> None:
        """Give an app (client id) or a service account (smtp) the ApplicationImpersonation role."""
        self._impersonators.add(principal.lower())

    def revoke_impersonation(self, principal: str) -> None:
        self._impersonators.discard(principal.lower())

    @property
    def identity_provider(self) -> Any:
        """The identity provider whose tokens Bearer requests (EWS and Graph) carry."""
        return self._identity_provider

    def use_identity_provider(self, idp: Any) -> None:
        self._identity_provider = idp
        if "bearer" not in self.auth_methods:
            self.auth_methods += ("bearer",)

    def add_event(
        self,
        owner: str,
        start: datetime,
        end: datetime,
        subject: str = "",
        *,
        tz: str = "UTC",
        all_day: bool = False,
        status: str = "Busy",
        location: str = "",
        body: str = "",
        sensitivity: str = "Normal",
        recurrence: Any = None,
        calendar: str | None = None,
        attendees: Iterable[str] = (),
        extended_properties: dict[str, str] | None = None,
    ) -> str:
        """Put an event straight into a calendar (as if the owner created it); returns its id.

        `recurrence` is a recurrence.Recurrence or a dict spec (see seed.recurrence_from_spec).
        `extended_properties` maps a PublicStrings property name to a string value, the way
        exchangelib's ExtendedProperty with distinguished_property_set_id="PublicStrings"
        stores it.
        """
        from .items import snap_all_day
        from .model import Attendee, CalendarItem, ExtendedProp, extended_key, new_id
        from .seed import recurrence_from_spec

        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("add_event needs aware datetimes")
        # exchangelib's EWSDateTime refuses plain tzinfos in astimezone(); use datetimes.
        start, end = (datetime.fromisoformat(v.isoformat()) for v in (start, end))
        with self.store.lock:
            folder = self._calendar(owner, calendar)
            mbx = self.store.mailbox(owner)
            item = CalendarItem(
                new_id(b"I"),
                folder.id,
                start.astimezone(UTC),
                end.astimezone(UTC),
                tz=tz,
                subject=subject,
                body=body,
                location=location,
                is_all_day=all_day,
                status=status,
                sensitivity=sensitivity,
                organizer=(mbx.smtp, mbx.display_name),
                creator=mbx.smtp,
                attendees=[Attendee(a.lower()) for a in attendees],
            )
            item.is_meeting = bool(item.attendees)
            if isinstance(recurrence, dict):
                recurrence = recurrence_from_spec(recurrence, start.astimezone(ZoneInfo(tz)).date())
            item.recurrence = recurrence
            for name, value in (extended_properties or {}).items():
                attrs = {
                    "DistinguishedPropertySetId": "PublicStrings",
                    "PropertyName": name,
                    "PropertyType": "String",
                }
                item.extended[extended_key(attrs)] = ExtendedProp(attrs, [value])
            if all_day:
                snap_all_day(item)
            folder.items[item.id] = item
            return item.id

    def events(self, owner: str, calendar: str | None = None) -> list[Any]:
        """The items in a calendar (model.CalendarItem, masters not expanded), by start."""
        with self.store.lock:
            folder = self._calendar(owner, calendar)
            return sorted(folder.items.values(), key=lambda i: (i.start, i.subject))

    def _find_item(self, owner: str, item_id: str) -> tuple[Any, Any]:
        for folder in self.store.calendars(self.store.mailbox(owner).smtp):
            if item_id in folder.items:
                return folder, folder.items[item_id]
        raise KeyError(f"{owner} has no item {item_id!r}")

    def move_event(self, owner: str, item_id: str, start: datetime, end: datetime) -> None:
        """What the owner does by dragging the event in Outlook: same item, new time."""
        with self.store.lock:
            _, item = self._find_item(owner, item_id)
            item.start, item.end = start.astimezone(UTC), end.astimezone(UTC)
            item.touch()

    def delete_event(self, owner: str, item_id: str, *, hard: bool = False) -> str | None:
        """What the owner does by deleting the event in Outlook: Delete moves it to Deleted
        Items, under a new id (returned); Shift+Delete (`hard`) removes it for good."""
        with self.store.lock:
            folder, item = self._find_item(owner, item_id)
            if hard:
                del folder.items[item_id]
                return None
            return self.store.move_to_deleted_items(folder, item).id

    def deleted_items(self, owner: str) -> list[Any]:
        """What is in the owner's Deleted Items (model.CalendarItem), by start."""
        with self.store.lock:
            trash = self.store.distinguished(owner, "deleteditems")
            assert trash is not None
            return sorted(trash.items.values(), key=lambda i: (i.start, i.subject))

    def modify_occurrence(
        self,
        owner: str,
        item_id: str,
        index: int,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        **fields: Any,
    ) -> str:
        """What the owner does by changing one occurrence of a series in Outlook ("this
        week's stand-up at 11:00"): occurrence `index` (1-based) becomes an exception with the
        new times (a new start alone keeps its length) and CalendarItem fields (subject,
        status, sensitivity, location...). The same checks as UpdateItem apply; returns the
        exception's (occurrence) id."""
        from .items import modify_occurrence
        from .model import EXCEPTION_FIELDS

        unknown = set(fields) - set(EXCEPTION_FIELDS)
        if unknown:
            raise ValueError(f"an exception can't change {', '.join(sorted(unknown))}")

        def change(draft: Any) -> None:
            length = draft.end - draft.start
            if start is not None:  # moved without a new end: it keeps its length
                draft.start = start.astimezone(UTC)
                draft.end = draft.start + length
            if end is not None:
                draft.end = end.astimezone(UTC)
            for name, value in fields.items():
                setattr(draft, name, value)

        with self.store.lock:
            _, item = self._find_item(owner, item_id)
            return modify_occurrence(item, index, change).id

    def delete_occurrence(self, owner: str, item_id: str, index: int) -> None:
        """What the owner does by deleting one occurrence (or exception) of a series."""
        from .items import delete_occurrence, occurrence

        with self.store.lock:
            _, item = self._find_item(owner, item_id)
            delete_occurrence(item, occurrence(item, index))

    @property
    def sent(self) -> list[SentMail]:
        """Meeting invitations, updates and cancellations 'sent' so far."""
        with self.store.lock:
            return list(self.store.sent)

    def set_password(self, email: str, password: str) -> None:
        with self.store.lock:
            self.store.mailbox(email).password = password

    def lock(self, email: str) -> None:
        with self.store.lock:
            self.store.mailbox(email).locked = True

    def unlock(self, email: str) -> None:
        with self.store.lock:
            self.store.mailbox(email).locked = False

    def load_seed(self, seed: dict[str, Any] | str | Path) -> None:
        from .seed import load_seed

        load_seed(self, seed)

    # ------------------------------------------------------------------ faults

    def set_latency(self, seconds: float, operation: str | None = None) -> None:
        with self._faults_lock:
            if operation is None:
                self._faults.latency = seconds
            else:
                self._faults.op_latency[operation] = seconds

    def throttle(self, count: int = 1, back_off_ms: int = 500, percent: float = 0.0) -> None:
        """Answer the next `count` EWS requests (or `percent`% of them) with ErrorServerBusy,
        and Graph requests with 429 and Retry-After (the back-off in whole seconds)."""
        with self._faults_lock:
            self._faults.throttle_count = count
            self._faults.throttle_percent = percent
            self._faults.back_off_ms = back_off_ms

    def block_ews(
        self, reason: str | None = "EWS is blocked by policy for this user or tenant"
    ) -> None:
        """Answer every EWS request as Exchange Online does once the tenant has EWS off:
        HTTP 403 with `X-EWS-Policy-Reason`. None lets EWS through again."""
        self.ews_blocked = reason

    def fail_http(self, status: int = 503, count: int = 1) -> None:
        with self._faults_lock:
            self._faults.http_status, self._faults.http_count = status, count

    def drop_connections(self, count: int = 1) -> None:
        """Close the socket without answering the next `count` requests."""
        with self._faults_lock:
            self._faults.drop_count = count

    def before(self, operation: str, action: Callable[[], None]) -> None:
        """Run `action` once, just before the next `operation` request is handled: what
        someone else does in between two of the client's requests (the owner saving the
        event in Outlook between the app's GetItem and its UpdateItem)."""
        with self._faults_lock:
            self._faults.before.setdefault(operation, []).append(action)

    def _run_before(self, operation: str) -> None:
        with self._faults_lock:
            waiting = self._faults.before.get(operation)
            action = waiting.pop(0) if waiting else None
        if action is not None:
            action()

    def clear_faults(self) -> None:
        with self._faults_lock:
            self._faults = _Faults()
        self.ews_blocked = None

    def _take(self, name: str) -> bool:
        with self._faults_lock:
            left = getattr(self._faults, name)
            if left > 0:
                setattr(self._faults, name, left - 1)
                return True
            return False

    def _take_throttle(self) -> int | None:
        """Back-off milliseconds if this request is throttled."""
        with self._faults_lock:
            f = self._faults
            if f.throttle_count > 0:
                f.throttle_count -= 1
                return f.back_off_ms
            if f.throttle_percent and random.random() * 100 < f.throttle_percent:
                return f.back_off_ms
            return None

    def _latency(self, operation: str) -> float:
        with self._faults_lock:
            return self._faults.latency + self._faults.op_latency.get(operation, 0.0)

    # ------------------------------------------------------------------ request log

    @property
    def log(self) -> list[LogEntry]:
        with self._log_lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def _record(self, entry: LogEntry) -> None:
        with self._log_lock:
            self._log.append(entry)

    # ------------------------------------------------------------------ authentication

    def _ntlm_acceptor(self) -> Any:
        if self._ntlm is None:
            from .ntlm import NtlmAcceptor

            self._ntlm = NtlmAcceptor(self._ntlm_credentials)
        return self._ntlm

    def _ntlm_credentials(self) -> list[tuple[str, str, str]]:
        """Every login form of every mailbox, read afresh for each new NTLM context so a
        password change applies at once. Locked accounts are kept so that their (correct)
        login can be answered with the 'locked' diagnostic."""
        creds = []
        with self.store.lock:
            for mbx in self.store.mailboxes.values():
                creds.append(("", mbx.smtp, mbx.password))
                for login in mbx.logins:
                    domain, _, user = login.rpartition("\\")
                    creds.append((domain, user, mbx.password))
        return creds

    def _challenge_headers(self) -> list[tuple[str, str]]:
        """WWW-Authenticate headers for the enabled methods, as IIS lists them."""
        headers = []
        if "ntlm" in self.auth_methods:
            headers.append(("WWW-Authenticate", "NTLM"))
        if "bearer" in self.auth_methods:
            headers.append(
                (
                    "WWW-Authenticate",
                    'Bearer client_id="00000002-0000-0ff1-ce00-000000000000", '
                    'token_types="app_asserted_user_v1 service_asserted_app_v1"',
                )
            )
        if "basic" in self.auth_methods:
            headers.append(("WWW-Authenticate", f'Basic realm="{self.host}"'))
        return headers

    def _basic(self, token: str) -> _Identity:
        try:
            user, _, password = (
                base64.b64decode(token, validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            raise _Unauthorized() from None
        with self.store.lock:
            mbx = self.store.find_mailbox(user)
            if mbx is None or mbx.password != password:
                raise _Unauthorized({"X-MS-Diagnostics": _BAD_PASSWORD_DIAGNOSTIC})
            if mbx.locked:
                raise self._locked()
            return _Identity(user, mbx.smtp, "basic")

    @staticmethod
    def _locked() -> _Unauthorized:
        # IIS answers a locked account with a plain 401; the diagnostic header tells it apart.
        # exchangelib also recognises this body text and raises UnauthorizedError on it even
        # under a FaultTolerance policy (which would otherwise retry 401s for an hour).
        return _Unauthorized(
            {"X-MS-Diagnostics": _LOCKED_DIAGNOSTIC},
            "The referenced account is currently locked out and may not be logged on to.",
        )

    def _identity_for_principal(self, principal: str) -> _Identity:
        with self.store.lock:
            mbx = self.store.find_mailbox(principal)
            if mbx is None:
                raise _Unauthorized()
            if mbx.locked:
                raise self._locked()
            return _Identity(principal, mbx.smtp, "ntlm")

    def _bearer(self, token: str) -> _Identity:
        info = (
            self._identity_provider.validate_access_token(token)
            if self._identity_provider
            else None
        )
        if info is None:
            raise _Unauthorized({"X-MS-Diagnostics": _BAD_TOKEN_DIAGNOSTIC})
        if info.user:
            with self.store.lock:
                mbx = self.store.find_mailbox(info.user)
            if mbx is None:
                raise _Unauthorized()
            return _Identity(info.user, mbx.smtp, "bearer", info.client_id)
        return _Identity(
            f"app:{info.client_id}", None, "bearer", info.client_id, frozenset(info.roles)
        )

    def _may_impersonate(self, identity: _Identity) -> bool:
        if identity.app_id and (
            identity.app_id.lower() in self._impersonators
            or "full_access_as_app" in identity.app_roles
        ):
            return True
        return bool(identity.mailbox and identity.mailbox in self._impersonators)

    # ------------------------------------------------------------------ EWS

    def _handle_ews(
        self, identity: _Identity, body: bytes, anchor: str | None
    ) -> tuple[bytes, int, str, str | None]:
        """Answer one EWS request: (response bytes, HTTP status, outcome, target)."""
        try:
            root = etree.fromstring(body, _PARSER)
        except etree.XMLSyntaxError as exc:
            line, column = exc.position
            return self._schema_fault(line, exc.msg, column)
        header = root.find(f"{{{SOAP_NS}}}Header")
        body_elem = root.find(f"{{{SOAP_NS}}}Body")
        request = (
            next((c for c in body_elem if isinstance(c.tag, str)), None)
            if body_elem is not None
            else None
        )
        if request is None:
            return self._fault(
                "ErrorSchemaValidation", "The request failed schema validation: no SOAP Body."
            )
        if etree.QName(request).namespace != M_NS:
            # What Exchange answers for a body element that is no EWS operation at all
            # (exchangelib's test_get_elements; exchangelib then tries every other version).
            return self._fault("ErrorInvalidRequest", "The request is invalid.")
        violation = self._request_violation(header, request)
        if violation is not None:
            return self._schema_fault(*violation)
        back_off = self._take_throttle()
        if back_off is not None:
            return self._fault(
                "ErrorServerBusy",
                "The server cannot service this request right now. Try again later.",
                {"BackOffMilliseconds": str(back_off)},
            )
        name = etree.QName(request).localname
        handler = operations().get(name) if etree.QName(request).namespace == M_NS else None
        if handler is None:
            return self._fault(
                "ErrorInvalidOperation",
                f"The operation {name} is not supported by this server.",
            )
        self._run_before(name)
        try:
            ctx = self._context(identity, header, anchor)
            with self.store.lock:
                response = handler(ctx, request)
        except EWSError as err:
            return self._fault(err.code, err.message, err.values)
        except Exception:  # a simulator bug: answer like Exchange would, and keep the trace
            self.internal_errors.append(traceback.format_exc())
            return self._fault("ErrorInternalServerError", "An internal server error occurred.")
        env = envelope(response, self.exchange_version)
        self._validate(env)
        target = ",".join(ctx.targets) or ctx.anchor
        return serialize(env), 200, _outcome(response), target

    def _context(
        self, identity: _Identity, header: etree._Element | None, anchor: str | None
    ) -> Context:
        caller = identity.mailbox
        impersonation = header.find(t("ExchangeImpersonation")) if header is not None else None
        if impersonation is not None:
            sid = impersonation.find(t("ConnectingSID"))
            wanted = None
            if sid is not None:
                wanted = next((c.text for c in sid if isinstance(c.tag, str) and c.text), None)
            if not wanted:
                raise EWSError(
                    "ErrorInvalidExchangeImpersonationHeaderData", "ConnectingSID is empty."
                )
            with self.store.lock:
                target = self.store.find_mailbox(wanted)
            # Naming yourself is allowed (exchangelib does it with delegated OAuth tokens).
            if not (target and target.smtp == identity.mailbox) and not self._may_impersonate(
                identity
            ):
                raise EWSError(
                    "ErrorImpersonateUserDenied",
                    "The account does not have permission to impersonate the requested user.",
                )
            if target is None:
                raise EWSError(
                    "ErrorNonExistentMailbox",
                    f"The SMTP address has no mailbox associated with it. {wanted}",
                )
            caller = target.smtp
        if caller is None:
            raise EWSError(
                "ErrorInvalidExchangeImpersonationHeaderData",
                "ExchangeImpersonation SOAP header must be present for this type of OAuth token.",
            )
        try:
            tz = timezones.tz_from_timezone_context(header)
        except ValueError as exc:
            raise EWSError("ErrorTimeZone", str(exc)) from exc
        return Context(self.store, caller, anchor.lower() if anchor else None, tz, self._sent)

    def _sent(self, mail: SentMail) -> None:
        self.store.sent.append(mail)

    def _fault(
        self, code: str, message: str, values: dict[str, str] | None = None
    ) -> tuple[bytes, int, str, str | None]:
        # Exchange sends SOAP faults with HTTP 500; exchangelib parses XML 500s.
        return serialize(fault(code, message, values)), 500, code, None

    def _schema_fault(
        self, line: int, violation: str, column: int = 0
    ) -> tuple[bytes, int, str, str | None]:
        """ErrorSchemaValidation as Exchange sends it, where it stops at a request that
        isn't well formed or doesn't match its schema (unknown or misplaced elements)."""
        details = {"LineNumber": str(line), "LinePosition": str(column), "Violation": violation}
        message = f"The request failed schema validation: {violation}"
        body = serialize(fault("ErrorSchemaValidation", message, details=details))
        return body, 500, "ErrorSchemaValidation", None

    def _request_violation(
        self, header: etree._Element | None, request: etree._Element
    ) -> tuple[int, str] | None:
        """(line, message) of the first thing in a request Exchange's schema refuses.

        With the schema directory configured the whole request (header parts and operation)
        is validated against messages.xsd; without it, at least the operation's own child
        elements are checked against the names the schema allows there."""
        if self._schema is not None:
            from .ews.schema import request_violation

            parts = [c for c in header if isinstance(c.tag, str)] if header is not None else []
            return request_violation(self._schema, [*parts, request])
        allowed = _REQUEST_CHILDREN.get(etree.QName(request).localname)
        if allowed is None:
            return None
        for child in request:
            if isinstance(child.tag, str) and child.tag not in allowed:
                op, name = etree.QName(request), etree.QName(child)
                return child.sourceline or 0, (
                    f"The element '{op.localname}' in namespace '{op.namespace}' has invalid "
                    f"child element '{name.localname}' in namespace '{name.namespace}'."
                )
        return None

    def _validate(self, env: etree._Element) -> None:
        if self._schema is None:
            return
        from .ews.schema import validate_envelope

        errors = validate_envelope(self._schema, env)
        if errors:
            with self._log_lock:
                self.schema_errors.extend(errors)


def _names(*names: str) -> frozenset[str]:
    """Clark names from "m:Name" / "t:Name"."""
    spaces = {"m": M_NS, "t": T_NS}
    return frozenset(f"{{{spaces[n[0]]}}}{n[2:]}" for n in names)


# The child elements messages.xsd allows in each operation the simulator answers, so an
# unknown element is refused even when the schema isn't at hand (the demo).
_REQUEST_CHILDREN: dict[str, frozenset[str]] = {
    "GetFolder": _names("m:FolderShape", "m:FolderIds"),
    "FindFolder": _names(
        "m:FolderShape",
        "m:IndexedPageFolderView",
        "m:FractionalPageFolderView",
        "m:Restriction",
        "m:ParentFolderIds",
    ),
    "FindItem": _names(
        "m:ItemShape",
        "m:IndexedPageItemView",
        "m:FractionalPageItemView",
        "m:SeekToConditionPageItemView",
        "m:CalendarView",
        "m:ContactsView",
        "m:GroupBy",
        "m:DistinguishedGroupBy",
        "m:Restriction",
        "m:SortOrder",
        "m:ParentFolderIds",
        "m:QueryString",
    ),
    "GetItem": _names("m:ItemShape", "m:ItemIds"),
    "CreateItem": _names("m:SavedItemFolderId", "m:Items"),
    "UpdateItem": _names("m:SavedItemFolderId", "m:ItemChanges"),
    "DeleteItem": _names("m:ItemIds"),
    "SyncFolderItems": _names(
        "m:ItemShape",
        "m:SyncFolderId",
        "m:SyncState",
        "m:Ignore",
        "m:MaxChangesReturned",
        "m:SyncScope",
    ),
    "GetServerTimeZones": _names("m:Ids"),
    "GetUserAvailabilityRequest": _names(
        "t:TimeZone", "m:MailboxDataArray", "t:FreeBusyViewOptions", "t:SuggestionsViewOptions"
    ),
    "ResolveNames": _names("m:ParentFolderIds", "m:UnresolvedEntry"),
    "ConvertId": _names("m:SourceIds"),
}


def _outcome(response: etree._Element) -> str:
    """NoError, or the first error code in the response messages."""
    for code in response.iter(f"{{{M_NS}}}ResponseCode"):
        if code.text and code.text != "NoError":
            return code.text
    return "NoError"


class _Handler(BaseHTTPRequestHandler):
    # Headers and body go out in separate sends; without TCP_NODELAY every response waits
    # ~40 ms for the client's delayed ACK, which would dwarf the latency we simulate.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"  # keep-alive: NTLM authenticates the connection
    server: _Server
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self._delay_answer = 0.0  # the second half of the latency, slept before answering
        self._ntlm_context: Any = None
        self._ntlm_identity: _Identity | None = None

    def log_message(self, format: str, *args: Any) -> None:
        return  # the simulator keeps its own log

    def do_GET(self) -> None:
        if _is_graph(self.path):
            self._graph("GET")
            return
        self._read_body()
        if self.path.lower().startswith(autodiscover.JSON_PATH):
            self._autodiscover_json()
            return
        self._send(404, b"Not Found", "text/plain")

    def do_PATCH(self) -> None:
        self._graph_or_404("PATCH")

    def do_DELETE(self) -> None:
        self._graph_or_404("DELETE")

    def _graph_or_404(self, method: str) -> None:
        if _is_graph(self.path):
            self._graph(method)
            return
        self._read_body()
        self._send(404, b"Not Found", "text/plain")

    def _graph(self, method: str) -> None:
        try:
            from .graph.http import serve

            serve(self, method)
        except Exception:  # a simulator bug: keep the trace for the tests to report
            self.server.sim.internal_errors.append(traceback.format_exc())
            raise

    def do_POST(self) -> None:
        if _is_graph(self.path):
            self._graph("POST")
            return
        sim = self.server.sim
        started = time.monotonic()
        self._delay_answer = 0.0
        body = self._read_body()
        path = self.path.split("?", 1)[0].lower()
        operation = _peek_operation(body)
        anchor = self.headers.get("X-AnchorMailbox")

        def record(
            outcome: str, status: int, caller: str | None, target: str | None, auth: str | None
        ) -> None:
            sim._record(
                LogEntry(
                    datetime.now(UTC),
                    operation,
                    caller,
                    target,
                    outcome,
                    status,
                    time.monotonic() - started + self._delay_answer,  # the latency included
                    auth,
                    self.headers.get("Host"),
                )
            )

        # Each branch records before answering, so a client that has its answer always finds
        # the request in the log.
        if sim._take("drop_count"):
            record("dropped", 0, None, anchor, None)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        # The round trip's latency, half on the way in and half on the way out, as on a
        # network: requests sent together are then worked on as they arrive, not all at
        # once after one full delay (this server does one at a time; Exchange doesn't).
        delay = sim._latency(operation)
        if delay:
            time.sleep(delay / 2)
            self._delay_answer = delay / 2
        if sim._take("http_count"):
            status = sim._faults.http_status
            record(f"HTTP {status}", status, None, anchor, None)
            self._send(status, b"Service Unavailable", "text/html")
            return
        if path not in (EWS_PATH, AUTODISCOVER_PATH):
            record("HTTP 404", 404, None, None, None)
            self._send(404, b"Not Found", "text/plain")
            return
        try:
            identity = self._authenticate()
        except _Unauthorized as exc:
            record("HTTP 401", 401, None, anchor, None)
            self._send(
                401,
                exc.body.encode(),
                "text/html",
                [*exc.headers.items(), *sim._challenge_headers()],
            )
            return
        if isinstance(identity, str):  # an NTLM handshake step: answer with the server token
            record("HTTP 401", 401, None, anchor, "ntlm")
            self._send(401, b"", "text/html", [("WWW-Authenticate", f"NTLM {identity}")])
            return
        if path == EWS_PATH and sim.ews_blocked:
            # Exchange Online with EWS off for this tenant or app (EWSEnabled=False, or the app
            # missing from EWSAllowedAppIDs): 403 after sign-in, the reason in a header.
            record("HTTP 403", 403, identity.principal, anchor, identity.method)
            self._send(403, b"", "text/html", [("X-EWS-Policy-Reason", sim.ews_blocked)])
            return
        if path == AUTODISCOVER_PATH:
            payload, status, outcome, target = self._autodiscover(body)
        else:
            payload, status, outcome, target = sim._handle_ews(identity, body, anchor)
        record(outcome, status, identity.principal, target or anchor, identity.method)
        self._send(status, payload, "text/xml; charset=utf-8")

    # -------------------------------------------------------------- helpers

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        delay, self._delay_answer = getattr(self, "_delay_answer", 0.0), 0.0
        if delay:
            time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _authenticate(self) -> _Identity | str:
        """The caller's identity, or the NTLM token to challenge with mid-handshake."""
        sim = self.server.sim
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic" and "basic" in sim.auth_methods:
            return sim._basic(token.strip())
        if scheme == "bearer" and "bearer" in sim.auth_methods:
            return sim._bearer(token.strip())
        if scheme in ("ntlm", "negotiate") and "ntlm" in sim.auth_methods:
            return self._ntlm_step(token.strip())
        if not header and self._ntlm_identity is not None:
            return sim._identity_for_principal(self._ntlm_identity.principal)
        raise _Unauthorized()

    def _ntlm_step(self, token: str) -> _Identity | str:
        from .ntlm import NtlmError, is_negotiate_message

        sim = self.server.sim
        if self._ntlm_context is None or is_negotiate_message(token):
            self._ntlm_context = sim._ntlm_acceptor().new_context()
            self._ntlm_identity = None
        try:
            step = self._ntlm_context.step(token)
        except NtlmError:
            self._ntlm_context = None
            raise _Unauthorized() from None
        if not step.complete:
            return step.out_token_b64 or ""
        self._ntlm_context = None
        identity = sim._identity_for_principal(step.principal or "")
        self._ntlm_identity = identity
        return identity

    def _autodiscover_json(self) -> None:
        """Autodiscover v2 (autodiscover.py's json_answer): anonymous, as Exchange serves it.
        The HTTP faults apply, so a test can take Autodiscover down."""
        sim = self.server.sim
        started = time.monotonic()
        path, _, query = self.path.partition("?")

        def record(outcome: str, status: int, target: str | None) -> None:
            sim._record(
                LogEntry(
                    datetime.now(UTC),
                    "AutodiscoverJson",
                    None,
                    target,
                    outcome,
                    status,
                    time.monotonic() - started,
                    None,
                    self.headers.get("Host"),
                )
            )

        if sim._take("http_count"):
            status = sim._faults.http_status
            record(f"HTTP {status}", status, None)
            self._send(status, b"Service Unavailable", "text/html")
            return
        status, answer, target = autodiscover.json_answer(
            sim.store, path, parse_qs(query), sim.base_url, sim.ews_url
        )
        record(answer.get("ErrorCode", "NoError"), status, target)
        self._send(status, json.dumps(answer).encode(), "application/json; charset=utf-8")

    def _autodiscover(self, body: bytes) -> tuple[bytes, int, str, str | None]:
        sim = self.server.sim
        try:
            root = etree.fromstring(body, _PARSER)
        except etree.XMLSyntaxError:
            return b"Bad Request", 400, "HTTP 400", None
        request = root.find(f".//{{{autodiscover.A_NS}}}GetUserSettingsRequestMessage")
        if request is None:
            return b"Bad Request", 400, "HTTP 400", None
        env = autodiscover.get_user_settings(sim.store, request, sim.ews_url, sim.exchange_version)
        users = [u.text for u in request.iter(f"{{{autodiscover.A_NS}}}Mailbox") if u.text]
        return serialize(env), 200, "NoError", ",".join(users) or None


def _is_graph(path: str) -> bool:
    return path.lower().startswith("/v1.0/") or path.lower().split("?")[0] == "/v1.0"


def _peek_operation(body: bytes) -> str:
    """The operation name for the log and per-operation latency, without trusting the body."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        return ""
    body_elem = root.find(f"{{{SOAP_NS}}}Body")
    if body_elem is None:
        return ""
    request = next((c for c in body_elem if isinstance(c.tag, str)), None)
    if request is None:
        return ""
    name = operation_name(request)
    return name.removesuffix("RequestMessage") if name.endswith("RequestMessage") else name
