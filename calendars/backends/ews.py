"""The Exchange Web Services backend, through exchangelib.

Pitfalls this module exists to contain (see ../shared/notes/exchangelib-on-the-wire.md):
- exchangelib caches a Protocol per (endpoint, credentials) and ignores a new Configuration
  on a cache hit. We keep one Configuration per (connection id, credential_version) and close
  the old protocol when the version moves, so a rotated password applies at once.
- Every call uses FailFast: a wrong password must fail now, not retry for an hour; retrying
  transient failures is the job of the caller (Celery tasks honour Exchange's back-off).
- TLS is verified, with TLS 1.2 as the minimum, and every connection's address is vetted by
  the SSRF guard and pinned, for every session exchangelib opens (calendars/transport.py).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, time, timedelta
from queue import Empty
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.views.decorators.debug import sensitive_variables
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Credentials,
    EWSTimeZone,
    ExtendedProperty,
    FailFast,
    FolderCollection,
    Identity,
    OAuth2AuthorizationCodeCredentials,
    Version,
)
from exchangelib import errors as ews_errors
from exchangelib.errors import SessionPoolMinSizeReached
from exchangelib.folders import SHALLOW, Calendar, Root
from exchangelib.items import MOVE_TO_DELETED_ITEMS, SEND_TO_ALL_AND_SAVE_COPY
from exchangelib.properties import (
    DaylightTime,
    DistinguishedFolderId,
    FreeBusyViewOptions,
    Mailbox,
    MailboxData,
    StandardTime,
    TimeWindow,
    TimeZone,
)
from exchangelib.protocol import BaseProtocol, Protocol
from exchangelib.services import GetDelegate
from exchangelib.services.sync_folder_hierarchy import SyncFolder
from exchangelib.util import MNS
from exchangelib.version import EXCHANGE_2013, EXCHANGE_2016, EXCHANGE_2019, EXCHANGE_O365

from calendars import oauth
from calendars.backends import ews_hours
from calendars.backends.base import (
    Backend,
    BusyInterval,
    CalendarInfo,
    CalendarTarget,
    Changes,
    Delegation,
    EventData,
    MailboxAccess,
    SyncStateLost,
    WorkingHours,
)
from calendars.backends.ews_busy import CalendarViewTimes, FreeBusyTimes
from calendars.errors import ExchangeError, MailboxNotFound, translate
from calendars.models import AuthType, ExchangeConnection, SyncDirection
from calendars.synclog import Collector, record
from calendars.transport import TlsAdapter, remember_environment

UTC_TZ = EWSTimeZone("UTC")
_VERSIONS: dict[str, Build] = {
    "2013": EXCHANGE_2013,
    "2016": EXCHANGE_2016,
    "2019": EXCHANGE_2019,
    "online": EXCHANGE_O365,
}
_PERMISSION_LEVELS_WITH_CREATE = {
    "Owner",
    "PublishingEditor",
    "Editor",
    "Author",
    "NoneditingAuthor",
}


# exchangelib's get_free_busy_info first asks the server for its time zone definitions (a
# GetServerTimeZones round trip) on every call, only to describe UTC. We ask in UTC, which
# needs no transitions: the same StandardTime/DaylightTime pair Outlook sends for UTC.
_UTC_AVAILABILITY_ZONE = TimeZone(
    bias=0,
    standard_time=StandardTime(bias=0, time=time(2), occurrence=5, iso_month=10, weekday=7),
    daylight_time=DaylightTime(bias=0, time=time(1), occurrence=5, iso_month=3, weekday=7),
)


class BookingUid(ExtendedProperty):
    """Stamped on every event the app writes: a retried write finds its event by this."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "ExchangeSchedulerBookingUid"
    property_type = "String"


if "booking_uid" not in {f.name for f in CalendarItem.FIELDS}:
    CalendarItem.register("booking_uid", BookingUid)


# --- transport -------------------------------------------------------------------------
# Every exchangelib session (EWS and Autodiscover alike) mounts calendars.transport's adapter:
# TLS 1.2+, verified certificates, and each connection's address vetted by the SSRF guard
# and pinned.


def _decrease_poolsize(self: BaseProtocol) -> None:
    """exchangelib's answer to ErrorServerBusy is to close one pooled session. Its own version
    takes that session with a blocking get while holding the pool's lock; when every session
    is checked out by other threads, get() tries to grow the pool under the same
    non-reentrant lock and the thread deadlocks, and with it every thread that is throttled
    next (a Celery worker stopped for good under load). Here only an idle session is closed;
    when none is idle the pool stays as it is, and the back-off is still honoured (FailFast
    raises, and the caller retries later)."""
    if self._session_pool_size <= 1:
        raise SessionPoolMinSizeReached("Session pool size cannot be decreased further")
    with self._session_pool_lock:
        if self._session_pool_size <= 1:
            return
        try:
            session = self._session_pool.get(block=False)
        except Empty:
            return
        self.close_session(session)
        self._session_pool_size -= 1


_raw_session = BaseProtocol.raw_session.__func__  # type: ignore[attr-defined]


@classmethod  # type: ignore[misc]
def _remembering_raw_session(cls: type[BaseProtocol], *args: Any, **kwargs: Any) -> Any:
    """exchangelib's session, reading its proxy settings once (transport.remember_environment)."""
    return remember_environment(_raw_session(cls, *args, **kwargs))


BaseProtocol.HTTP_ADAPTER_CLS = TlsAdapter
BaseProtocol.raw_session = _remembering_raw_session  # type: ignore[method-assign, assignment]
BaseProtocol.TIMEOUT = settings.EXCHANGE_TIMEOUT
BaseProtocol.decrease_poolsize = _decrease_poolsize  # type: ignore[method-assign]


def _sync_element_container(self: SyncFolder, message: Any, name: Any = None) -> Any:
    """exchangelib's SyncFolderItems reads SyncState and IncludesLastItemInRange before it
    looks at the ResponseCode, so an error answer, which carries neither (the
    ResponseMessageType of the schema: ErrorInvalidSyncStateData for a state Exchange no
    longer accepts, ErrorAccessDenied, ...), surfaced as an AttributeError instead of the
    error. Let the error through as its own exception; read the state only from a success."""
    if message.find(f"{{{MNS}}}SyncState") is None:
        return super(SyncFolder, self)._get_element_container(message=message, name=name)
    return _exchangelib_sync_element_container(self, message, name)


_exchangelib_sync_element_container = SyncFolder._get_element_container
SyncFolder._get_element_container = _sync_element_container  # type: ignore[method-assign]


# --- credentials and protocol cache ----------------------------------------------------


class MsalCredentials(OAuth2AuthorizationCodeCredentials):
    """OAuth credentials whose tokens come from msal, never from exchangelib itself.

    exchangelib would fetch its own token from login.microsoftonline.com; handing it a
    token and overriding refresh() keeps msal (and our configured authority) in charge.
    `cache_key` keeps two connections with the same endpoint from sharing a protocol.
    """

    def __init__(self, connection: ExchangeConnection) -> None:
        # An app-only token must name a mailbox in every request; protocol-level calls
        # (version discovery, free/busy) act as the dedicated mailbox.
        identity = (
            Identity(primary_smtp_address=connection.email)
            if connection.auth_type == AuthType.OAUTH_APP
            else None
        )
        super().__init__(access_token=None, identity=identity)
        self.cache_key = (connection.pk, connection.credential_version)
        # A partial, not the model: exchangelib hashes every attribute, and an unsaved
        # connection (a candidate being verified) is unhashable.
        self._fetch = functools.partial(oauth.access_token_for, connection)
        self.access_token = self._fetch()

    def refresh(self, session: Any) -> None:
        self.access_token = self._fetch(force=True)

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("MsalCredentials are not meant to be pickled")


_lock = threading.Lock()
_configs: dict[int, tuple[tuple[Any, ...], Configuration]] = {}


# These hold the password (or its unsalted hash): no local variables in an error report.
@sensitive_variables()
def _credentials(conn: ExchangeConnection) -> Any:
    if conn.auth_type in (AuthType.OAUTH_APP, AuthType.OAUTH_USER):
        return MsalCredentials(conn)
    return Credentials(username=conn.username or conn.email, password=conn.password)


@sensitive_variables()
def _fingerprint(conn: ExchangeConnection) -> tuple[Any, ...]:
    # credential_version is what other processes see change; the rest guards against a
    # reused primary key (SQLite reuses them) or an unsaved edit meeting a stale cache.
    # The refresh token is left out: the identity provider rotates it on every use, and a
    # new protocol per call would redeem it again each time. `created` still tells a reused
    # primary key apart.
    secret = hashlib.sha256(
        "\0".join([conn.password, conn.oauth_client_secret]).encode()
    ).hexdigest()
    return (
        conn.credential_version,
        conn.created,
        conn.email,
        conn.username,
        conn.ews_url,
        conn.auth_type,
        conn.exchange_version,
        secret,
    )


@sensitive_variables()  # the fingerprint holds the secrets' hash
def configuration(conn: ExchangeConnection) -> Configuration:
    """The Configuration for this connection's current credentials (cached per process)."""
    fingerprint = _fingerprint(conn)
    with _lock:
        cached = _configs.get(conn.pk) if conn.pk else None
        if cached and cached[0] == fingerprint:
            return cached[1]
        if cached:
            _forget(cached[1])
        auth_type = {AuthType.BASIC: BASIC, AuthType.NTLM: NTLM}.get(conn.auth_type, OAUTH2)
        build = _VERSIONS.get(conn.exchange_version)
        config = Configuration(
            service_endpoint=conn.ews_url,
            credentials=_credentials(conn),
            auth_type=auth_type,
            version=Version(build=build) if build else _known_version(conn.ews_url),
            retry_policy=FailFast(),
            max_connections=8,
        )
        if conn.pk:
            _configs[conn.pk] = (fingerprint, config)
        return config


# "Automatic" server version: exchangelib asks the server (a ConvertId round trip) the first
# time each process uses an endpoint. Every gunicorn and Celery process would pay that extra
# round trip on its first request, so the answer is shared through the cache. A server that
# is later upgraded is still handled: exchangelib follows the version in every response.
_VERSION_TTL = 24 * 3600
_versions_shared: set[str] = set()


def _version_key(ews_url: str) -> str:
    return "ews-version:" + hashlib.sha256(ews_url.encode()).hexdigest()


def _known_version(ews_url: str) -> Version | None:
    found = cache.get(_version_key(ews_url))
    if not found:
        return None
    (major, minor, major_build, minor_build), api_version = found
    return Version(build=Build(major, minor, major_build, minor_build), api_version=api_version)


def _share_version(config: Configuration) -> None:
    version, url = config.version, config.service_endpoint
    if not version or not version.build or url in _versions_shared:
        return
    b = version.build
    build = (b.major_version, b.minor_version, b.major_build, b.minor_build)
    cache.set(_version_key(url), (build, version.api_version), timeout=_VERSION_TTL)
    _versions_shared.add(url)


def _forget(config: Configuration) -> None:
    """Drop exchangelib's cached protocol (and its pooled sessions) for old credentials."""
    try:
        protocol, _ = Protocol[config]
    except KeyError:
        return
    if not isinstance(protocol, Exception):
        protocol.close()
    with suppress(KeyError):
        del Protocol[config]


def forget_connection(conn_pk: int) -> None:
    with _lock:
        cached = _configs.pop(conn_pk, None)
        if cached:
            _forget(cached[1])


# --- the backend -----------------------------------------------------------------------


class EwsBackend(Backend):
    def __init__(self, connection: ExchangeConnection) -> None:
        self.connection = connection

    # Accounts are cheap to build (no round trip) but remember the server version, so they
    # are reused for the life of the backend object.
    def _account(self, mailbox: str | None = None) -> Account:
        conn = self.connection
        target = (mailbox or conn.email).lower()
        access = IMPERSONATION if conn.auth_type == AuthType.OAUTH_APP else DELEGATE
        return Account(
            primary_smtp_address=target,
            config=configuration(conn),
            autodiscover=False,
            access_type=access,
            default_timezone=UTC_TZ,
        )

    @contextmanager
    def _call(self, direction: str, operation: str, target: str) -> Iterator[None]:
        with record(self.connection, direction, operation, target):
            try:
                yield
            except ExchangeError:
                raise
            except Exception as exc:
                raise translate(exc) from exc
        if self.connection.pk and self.connection.ews_url not in _versions_shared:
            _share_version(configuration(self.connection))

    def verify(self) -> None:
        conn = self.connection
        if conn.auth_type == AuthType.OAUTH_APP:
            # An app-only identity has no mailbox of its own; a token plus one protocol-level
            # call proves the secret, the endpoint and that it is Exchange.
            with self._call(SyncDirection.VERIFY, "GetServerTimeZones", ""):
                account = self._account(conn.email)
                list(account.protocol.get_timezones(return_full_timezone_data=False))
            return
        with self._call(SyncDirection.VERIFY, "GetFolder", conn.email):
            self._primary_calendar(self._account())

    def _primary_calendar(self, account: Account) -> Calendar:
        # One GetFolder on the distinguished id; `account.calendar` would first fetch the
        # root folder, a second round trip we don't need.
        return Calendar.resolve(account=account, folder=_calendar(account))

    def mailbox_access(self, mailbox: str) -> MailboxAccess:
        account = self._account(mailbox)
        try:
            with self._call(SyncDirection.VERIFY, "GetFolder", mailbox):
                cal = self._primary_calendar(account)
        except ExchangeError as exc:
            if exc.code != "access_denied":
                raise
            return MailboxAccess(can_read=False, can_write=False, permission_level="")
        rights = cal.effective_rights
        return MailboxAccess(
            can_read=bool(rights and rights.read),
            can_write=bool(rights and rights.create_contents),
            permission_level=self._level_for_me(cal),
        )

    def delegation(self, mailbox: str) -> Delegation | None:
        """GetDelegate on `mailbox`, asking about this connection only.

        Exchange 2016/2019 shows a delegate list to the owner, to an account with FullAccess
        on the mailbox, or to a service impersonating the owner; a delegate with folder
        permissions only gets ErrorItemNotFound ("The specified object was not found in the
        store."; we take ErrorAccessDenied the same way). That is an answer, not a failure:
        we don't know, and the caller goes by the folder permission."""
        conn = self.connection
        if conn.auth_type == AuthType.OAUTH_APP:
            return None  # an app is nobody's delegate: it impersonates the owner
        me = conn.email.lower()
        account = self._account(mailbox)
        with self._call(SyncDirection.VERIFY, "GetDelegate", mailbox):
            try:
                # Only about us: one stale entry elsewhere in the list (a deleted user,
                # ErrorDelegateNoUser) would otherwise fail the whole answer.
                found = list(
                    GetDelegate(account=account).call(user_ids=[me], include_permissions=True)
                )
            except ews_errors.ErrorNotDelegate:
                return Delegation(is_delegate=False)
            except (ews_errors.ErrorItemNotFound, ews_errors.ErrorAccessDenied):
                # Logged as the answer it is, so admins don't chase it in the sync log.
                return None
        for entry in found:
            address = (entry.user_id.primary_smtp_address or "").lower() if entry.user_id else ""
            if address == me:
                permissions = entry.delegate_permissions
                return Delegation(
                    is_delegate=True,
                    calendar_permission=(
                        permissions.calendar_folder_permission_level if permissions else ""
                    ),
                    sees_private_items=bool(entry.view_private_items),
                    receives_meeting_copies=bool(entry.receive_copies_of_meeting_messages),
                )
        return Delegation(is_delegate=False)

    def _level_for_me(self, folder: Any) -> str:
        """The permission level the folder grants this connection (or Default's)."""
        me = self.connection.email.lower()
        default = ""
        pset = getattr(folder, "permission_set", None)
        for perm in (pset.calendar_permissions or []) if pset else []:
            user = perm.user_id
            if user is None:
                continue
            if (user.primary_smtp_address or "").lower() == me:
                return perm.calendar_permission_level or ""
            if user.distinguished_user == "Default":
                default = perm.calendar_permission_level or ""
        rights = folder.effective_rights
        if rights and rights.create_contents and rights.modify and rights.delete:
            # Delegates and owners may not appear in the folder's own ACL.
            return default if default in _PERMISSION_LEVELS_WITH_CREATE else "Editor"
        return default

    def _info(self, owner: str, folder: Any, *, primary: bool) -> CalendarInfo:
        rights = folder.effective_rights
        return CalendarInfo(
            owner_email=owner,
            folder_id=folder.id,
            name=folder.name or "Calendar",
            is_primary=primary,
            permission_level=self._level_for_me(folder),
            can_create=bool(rights and rights.create_contents),
            can_read_items=bool(rights and rights.read),
        )

    def discover(self, owner_email: str) -> list[CalendarInfo]:
        owner = owner_email.strip().lower()
        account = self._account(owner)
        try:
            with self._call(SyncDirection.READ, "GetFolder", owner):
                primary = self._primary_calendar(account)
        except ExchangeError as exc:
            if exc.code != "access_denied":
                raise
            return self._discover_free_busy_only(owner)
        found = [self._info(owner, primary, primary=True)]
        with self._call(SyncDirection.READ, "FindFolder", owner):
            children = FolderCollection(account=account, folders=[primary]).find_folders(
                depth=SHALLOW
            )
            for child in children:
                if isinstance(child, Exception) or child.folder_class != "IPF.Appointment":
                    continue
                found.append(self._info(owner, child, primary=False))
        return found

    def _discover_free_busy_only(self, owner: str) -> list[CalendarInfo]:
        """The folder can't be opened; free/busy may still be shared (the org default)."""
        account = self._account(self.connection.email)
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        try:
            with self._call(SyncDirection.READ, "GetUserAvailability", owner):
                views = list(
                    account.protocol.get_free_busy_info(
                        accounts=[(owner, "Required", False)],
                        start=now.astimezone(UTC_TZ),
                        end=(now + timedelta(days=1)).astimezone(UTC_TZ),
                    )
                )
        except ExchangeError as exc:
            if exc.code == "access_denied":
                return []  # not even free/busy is shared
            raise
        view = views[0]
        if isinstance(view, ews_errors.ErrorMailRecipientNotFound):
            raise MailboxNotFound(f"Exchange has no mailbox {owner}.")
        if isinstance(view, Exception):
            return []
        return [
            CalendarInfo(
                owner_email=owner,
                folder_id="",
                name="Calendar",
                is_primary=True,
                permission_level="FreeBusyTimeOnly",
                can_create=False,
                can_read_items=False,
            )
        ]

    # Busy time: free/busy for primary calendars, batched for all owners in one request (one
    # per FREE_BUSY_MAX_DAYS window: Exchange refuses longer ones); CalendarView for every
    # other folder; independent requests run in parallel.
    def busy(
        self, targets: list[CalendarTarget], start: datetime, end: datetime
    ) -> dict[CalendarTarget, list[BusyInterval]]:
        return self.start_busy(targets, start, end)()

    def start_busy(
        self, targets: list[CalendarTarget], start: datetime, end: datetime
    ) -> Callable[[], dict[CalendarTarget, list[BusyInterval]]]:
        """Send every request but the first now, each from a thread of the shared pool
        (threads already started: starting them per request cost about a millisecond each),
        and return what makes the first and waits for all the answers; the caller's thread is
        free in between (the slots API reads the owner's bookings meanwhile). Sync log rows
        are written by the caller's thread."""
        primaries = [t for t in targets if not t.folder_id]
        folders = [t for t in targets if t.folder_id]
        jobs: list[Callable[[], dict[CalendarTarget, list[BusyInterval]]]] = []
        # GetUserAvailability takes at most 100 mailboxes (ErrorMailboxDataArrayTooBig
        # above): a bigger team goes out in batches of 100, in parallel like the windows.
        for i in range(0, len(primaries), FREE_BUSY_MAX_MAILBOXES):
            batch = primaries[i : i + FREE_BUSY_MAX_MAILBOXES]
            for lo, hi in free_busy_windows(start, end):
                jobs.append(lambda b=batch, lo=lo, hi=hi: self._free_busy(b, lo, hi))
        for target in folders:
            jobs.append(lambda t=target: {t: self._calendar_view(t, start, end)})
        collector = Collector()
        futures = [collector.submit(_pool(), job) for job in jobs[1:]]

        def answers() -> dict[CalendarTarget, list[BusyInterval]]:
            # The first request is made by the caller's own thread when it asks for the
            # answers: no hand-over to another thread, and nothing competing with it for the
            # interpreter while it builds its request.
            try:
                first = collector.run(jobs[0])
            finally:
                # Every request ends before this does, even when one failed: their rows
                # are all in before they are written.
                wait(futures)
                collector.flush()
            found: dict[CalendarTarget, list[BusyInterval]] = {}
            for answer in [first, *(future.result() for future in futures)]:
                for target, intervals in answer.items():
                    found.setdefault(target, []).extend(intervals)
            # An event across a window boundary comes back from both windows, whole.
            return {
                target: sorted(dict.fromkeys(intervals), key=lambda b: (b.start, b.end))
                for target, intervals in found.items()
            }

        return answers

    def _free_busy(
        self, targets: list[CalendarTarget], start: datetime, end: datetime
    ) -> dict[CalendarTarget, list[BusyInterval]]:
        account = self._account(self.connection.email)
        owners = ",".join(t.owner_email for t in targets)
        with self._call(SyncDirection.READ, "GetUserAvailability", owners):
            views = list(
                FreeBusyTimes(account.protocol).call(
                    tzinfo=UTC_TZ,
                    mailbox_data=[
                        MailboxData(email=t.owner_email, attendee_type="Required") for t in targets
                    ],
                    timezone=_UTC_AVAILABILITY_ZONE,
                    free_busy_view_options=FreeBusyViewOptions(
                        time_window=TimeWindow(
                            start=start.astimezone(UTC_TZ), end=end.astimezone(UTC_TZ)
                        ),
                        merged_free_busy_interval=30,
                        # FreeBusy: each event's start, end and status, and nothing else.
                        # "Detailed" would ship colleagues' subjects and locations we never
                        # use (and must not hold).
                        requested_view="FreeBusy",
                    ),
                )
            )
        result: dict[CalendarTarget, list[BusyInterval]] = {}
        for target, view in zip(targets, views, strict=True):
            if isinstance(view, Exception):
                raise translate(view)
            result[target] = view
        return result

    def _calendar_view(
        self, target: CalendarTarget, start: datetime, end: datetime
    ) -> list[BusyInterval]:
        account = self._account(target.owner_email)
        folder = _calendar(account, target.folder_id)
        found: list[BusyInterval] = []
        windows = [(start, end)]
        while windows:
            lo, hi = windows.pop()
            with self._call(SyncDirection.READ, "FindItem", target.owner_email):
                try:
                    found.extend(
                        CalendarViewTimes(account=account).busy(
                            folder, lo.astimezone(UTC_TZ), hi.astimezone(UTC_TZ)
                        )
                    )
                except ews_errors.ErrorExceededFindCountLimit:
                    # Exchange refuses a whole CalendarView that would hold more entries than
                    # its EWSFindCountLimit (1,000 by default; occurrences count) rather than
                    # cut it, and CalendarView has no offset paging: ask for each half.
                    if hi - lo <= _SMALLEST_VIEW:
                        raise
                    middle = lo + ((hi - lo) / 2) // timedelta(minutes=1) * timedelta(minutes=1)
                    windows += [(middle, hi), (lo, middle)]
        # Exchange's view also holds items that end exactly at its start (they touch it
        # without overlapping) and zero-length items; neither blocks any time. An event
        # across a split comes back from both halves, whole.
        return list(dict.fromkeys(b for b in found if b.end > start and b.start < end))

    def working_hours(
        self, owner_email: str, *, zone_hints: Sequence[str] = ()
    ) -> WorkingHours | None:
        """Outlook's work hours of `owner_email`, from GetUserAvailability's WorkingHours
        (free/busy permission is enough); `zone_hints` name the zone when several keep the
        rules Exchange sends (calendars/backends/ews_hours.py)."""
        owner = owner_email.strip().lower()
        account = self._account(self.connection.email)
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        with self._call(SyncDirection.READ, "GetUserAvailability", owner):
            (answer,) = ews_hours.WorkingHoursAnswer(account.protocol).call(
                tzinfo=UTC_TZ,
                mailbox_data=[MailboxData(email=owner, attendee_type="Required")],
                timezone=_UTC_AVAILABILITY_ZONE,
                free_busy_view_options=FreeBusyViewOptions(
                    time_window=TimeWindow(
                        start=now.astimezone(UTC_TZ),
                        end=(now + timedelta(hours=1)).astimezone(UTC_TZ),
                    ),
                    merged_free_busy_interval=30,
                    # FreeBusy: no subjects; MergedOnly would come without working hours.
                    requested_view="FreeBusy",
                ),
            )
            if isinstance(answer, Exception):
                raise answer
            if answer is None:
                return None
            try:
                return ews_hours.working_hours(answer, zone_hints)
            except ValueError as exc:
                raise ExchangeError(
                    "Exchange sent working hours in a time zone this app can't identify.",
                    detail=str(exc),
                ) from exc

    # Events. The app writes into another owner's calendar through delegation (or
    # impersonation); SaveOnly unless the page asks Exchange to invite the customer.
    def _folder(self, target: CalendarTarget) -> tuple[Account, Calendar]:
        # The primary calendar by its distinguished id: CreateItem and FindItem take it as
        # it is, so no GetFolder is spent finding its id first.
        account = self._account(target.owner_email)
        return account, _calendar(account, target.folder_id)

    def find_event(self, target: CalendarTarget, uid: str) -> str | None:
        with self._call(SyncDirection.READ, "FindItem", target.owner_email):
            account, folder = self._folder(target)
            for item in (
                FolderCollection(account=account, folders=[folder])
                .filter(booking_uid=uid)
                .only("id", "changekey")
            ):
                return item.id
        return None

    def event_times(
        self, target: CalendarTarget, item_ids: list[str]
    ) -> dict[str, tuple[datetime, datetime] | None]:
        """One batched GetItem for many events: only ids, start and end are asked for."""
        result: dict[str, tuple[datetime, datetime] | None] = {}
        if not item_ids:
            return result
        with self._call(SyncDirection.READ, "GetItem", target.owner_email):
            account = self._account(target.owner_email)
            items = account.fetch(
                ids=[(i, None) for i in item_ids], only_fields=["start", "end", "parent_folder_id"]
            )
            found: dict[str, Any] = {}
            for item_id, item in zip(item_ids, items, strict=True):
                if isinstance(item, ews_errors.ErrorItemNotFound):
                    result[item_id] = None
                elif isinstance(item, Exception):
                    raise item
                else:
                    found[item_id] = item
            # An event the owner deleted in Outlook went to Deleted Items. Exchange 2010 and
            # later give a moved item a new id, so the old one is simply not found; should it
            # still resolve (ids that survive moves), the item is out of the calendar all the
            # same: anything no longer in the folder we wrote it to is gone.
            calendar_id = target.folder_id
            if found and not calendar_id:
                calendar_id = self._primary_calendar(account).id  # one GetFolder
            for item_id, item in found.items():
                parent = item.parent_folder_id.id if item.parent_folder_id else calendar_id
                in_calendar = parent == calendar_id
                result[item_id] = (_as_utc(item.start), _as_utc(item.end)) if in_calendar else None
        return result

    def changes(self, target: CalendarTarget, state: str) -> Changes:
        """SyncFolderItems from `state`, ids and change keys only (IdOnly), 512 changes per
        round trip (the most Exchange gives); exchangelib asks again while
        IncludesLastItemInRange is false. The primary calendar is named by its distinguished
        id, which costs no GetFolder."""
        with self._call(SyncDirection.READ, "SyncFolderItems", target.owner_email):
            folder = _calendar(self._account(target.owner_email), target.folder_id)
            changed: set[str] = set()
            deleted: set[str] = set()
            try:
                for kind, item in folder.sync_items(
                    sync_state=state or None,
                    only_fields=["id", "changekey"],
                    max_changes_returned=512,
                ):
                    if kind == "delete":
                        deleted.add(item.id)
                        changed.discard(item.id)
                    elif kind in ("create", "update"):
                        changed.add(item.id)
            except ews_errors.ErrorInvalidSyncStateData as exc:
                raise SyncStateLost(detail=str(exc)) from exc
            return Changes(
                state=folder.item_sync_state or "",
                changed_ids=frozenset(changed),
                deleted_ids=frozenset(deleted),
            )

    def create_event(self, target: CalendarTarget, event: EventData) -> str:
        with self._call(SyncDirection.WRITE, "CreateItem", target.owner_email):
            account, folder = self._folder(target)
            item = CalendarItem(account=account, folder=folder, **_fields(event))
            item.booking_uid = event.uid
            if event.invite_email:
                item.required_attendees = [event.invite_email]
                item.save(send_meeting_invitations="SendToAllAndSaveCopy")
            else:
                item.save(send_meeting_invitations="SendToNone")
            return item.id

    def update_event(self, target: CalendarTarget, item_id: str, event: EventData) -> str:
        with self._call(SyncDirection.WRITE, "UpdateItem", target.owner_email):
            account = self._account(target.owner_email)
            send = "SendToAllAndSaveCopy" if event.invite_email else "SendToNone"
            fields = _fields(event)
            # The update carries the ChangeKey read just before it. Should the owner change
            # the event in between (Outlook saving a new location), Exchange refuses ours
            # with ErrorIrresolvableConflict rather than overwrite theirs blindly; the
            # booking still wants its time, so read the event again and apply it on top.
            conflicts = 0
            while True:
                item = _get_item(account, item_id)
                for name, value in fields.items():
                    setattr(item, name, value)
                try:
                    item.save(update_fields=list(fields), send_meeting_invitations=send)
                    return item.id
                except (ews_errors.ErrorIrresolvableConflict, ews_errors.ErrorInvalidChangeKey):
                    conflicts += 1
                    if conflicts > _CONFLICT_RETRIES:
                        raise

    def delete_event(self, target: CalendarTarget, item_id: str) -> None:
        with self._call(SyncDirection.WRITE, "DeleteItem", target.owner_email):
            # An item id names the item in its mailbox: no need to open the folder first.
            _move_to_deleted_items(self._account(target.owner_email), item_id)


# The shortest CalendarView window split further when Exchange finds too many entries in it.
_SMALLEST_VIEW = timedelta(hours=1)

# How often a write re-reads an event the owner changed under it before giving up (the
# write is then retried later like any failed write).
_CONFLICT_RETRIES = 2


def _move_to_deleted_items(account: Account, item_id: str) -> None:
    """Delete the way Outlook does: into the owner's Deleted Items (DeleteItem
    MoveToDeletedItems), so the owner can still see and restore what the app cancelled, and
    send the cancellation to an invited customer. exchangelib's item.delete() is HardDelete
    (gone for good), and item.move_to_trash() afterwards opens the mailbox's Deleted Items
    folder, which a delegate may not (ErrorAccessDenied after the delete had worked). No
    GetItem first: DeleteItem ignores ChangeKeys, and answers ErrorItemNotFound for an event
    already gone."""
    (result,) = account.bulk_delete(
        ids=[(item_id, None)],
        delete_type=MOVE_TO_DELETED_ITEMS,
        send_meeting_cancellations=SEND_TO_ALL_AND_SAVE_COPY,
    )
    if isinstance(result, ews_errors.ErrorItemNotFound):
        return  # deleted by someone else in the meantime: what we wanted
    if isinstance(result, Exception):
        raise result


def _calendar(account: Account, folder_id: str = "") -> Calendar:
    """A calendar folder of `account` by id, or its primary calendar by the distinguished id
    ("" = primary), without a round trip (Root(account=...) makes no call)."""
    if folder_id:
        return Calendar(root=Root(account=account), id=folder_id)
    return Calendar(
        root=Root(account=account),
        _distinguished_id=DistinguishedFolderId(
            id="calendar", mailbox=Mailbox(email_address=account.primary_smtp_address)
        ),
    )


def _get_item(account: Account, item_id: str) -> CalendarItem:
    items = list(account.fetch(ids=[(item_id, None)]))
    item = items[0]
    if isinstance(item, Exception):
        raise item
    return item


def _fields(event: EventData) -> dict[str, Any]:
    tz = EWSTimeZone(event.timezone)
    return {
        "subject": event.subject,
        "body": event.body,
        "location": event.location,
        "start": event.start.astimezone(tz),
        "end": event.end.astimezone(tz),
        "legacy_free_busy_status": "Busy",
        "reminder_is_set": False,
        # A booking is a timed event; should the owner have made it all-day in Outlook, a
        # reschedule makes it timed again (Exchange would otherwise snap it to whole days).
        "is_all_day": False,
    }


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """One pool per process for parallel EWS requests, created on first use (after a
    gunicorn or Celery fork, never inherited). Requests are I/O-bound: 16 threads serve a
    couple of concurrent slots requests of 5-8 calendars each without queueing."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ews")
        return _POOL


def _forget_pool() -> None:
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()  # a forked child has none of the threads


os.register_at_fork(after_in_child=_forget_pool)


FREE_BUSY_MAX_MAILBOXES = 100  # GetUserAvailability's limit of mailboxes per request


def free_busy_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into the longest TimeWindows Exchange answers free/busy for."""
    longest = timedelta(days=settings.EXCHANGE_FREE_BUSY_MAX_DAYS)
    windows = []
    while end - start > longest:
        windows.append((start, start + longest))
        start += longest
    windows.append((start, end))
    return windows


def _as_utc(value: datetime) -> datetime:
    """A plain UTC datetime. Free/busy answers come as naive times in the zone we asked for
    (UTC); EWSDateTime refuses datetime.UTC in astimezone(), so go through a plain copy."""
    plain = datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=None if value.tzinfo is None else _zone(value.tzinfo),
        fold=value.fold,
    )
    if plain.tzinfo is None:
        return plain.replace(tzinfo=UTC)
    return plain.astimezone(UTC)


def _zone(tz: Any) -> ZoneInfo:
    if tz is None:
        return ZoneInfo("UTC")
    return ZoneInfo(tz.key) if hasattr(tz, "key") else ZoneInfo("UTC")
