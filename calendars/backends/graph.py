"""The Microsoft Graph backend for Exchange Online (calendars/backends/graph_client.py is its
HTTP client; ../shared/notes/graph-calendars.md the calls and limits it is built on).

Booking code sees the same interface as over EWS (backends/base.py):
- Primary calendars are `folder_id == ""` and read through getSchedule (free/busy permission
  is enough, 20 people per call); other calendars through calendarView (read permission).
- Events carry the same BookingUid extended property as the EWS backend writes (the
  PublicStrings property set, name ExchangeSchedulerBookingUid), so an event written over
  one protocol is found over the other when a connection moves from EWS to Graph.
- Ids are immutable ids (`Prefer: IdType="ImmutableId"` on every call): they survive the
  owner moving an event between folders, and compare equal across create, find and delta.
- Only start, end and free/busy status of other people's events are ever read.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP, MS_TIMEZONE_TO_IANA_MAP

from calendars import oauth
from calendars.backends import graph_client
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
    WorkingPeriod,
)
from calendars.backends.graph_client import GraphClient, client_for, user_path
from calendars.errors import (
    AccessDenied,
    ExchangeError,
    ItemNotFound,
    MailboxNotFound,
    MailboxOnPremises,
)
from calendars.models import AuthType, ExchangeConnection, SyncDirection
from calendars.synclog import Collector, record

# The EWS backend's BookingUid (ews.py): PublicStrings is this GUID, the name is the same.
PUBLIC_STRINGS = "00020329-0000-0000-C000-000000000046"
BOOKING_UID_PROPERTY = f"String {{{PUBLIC_STRINGS}}} Name ExchangeSchedulerBookingUid"
# transactionId from the booking's uid: the same uid always sends the same id, so Graph can
# recognise a retried POST whose first answer was lost.
_TRANSACTION_NAMESPACE = uuid.UUID("5b0a6f8e-4c1d-4d7a-9a43-6f1d2c8e9b21")

SCHEDULE_BATCH = 20  # getSchedule's limit of schedules per call
# getSchedule refuses windows of 62 days or more.
SCHEDULE_WINDOW = timedelta(days=61)
# The view's interval is irrelevant (we read scheduleItems, never the view's digits): the
# longest makes the string Graph builds and sends the shortest.
_VIEW_INTERVAL = 1440
# calendarView pages: Graph's default is 10 events, 999 the most.
_PAGE = "999"

# Graph's free/busy words as the product (and EWS) spells them. "free" is read like the
# rest: whether a status blocks is the page's choice (its blocking statuses), as over EWS.
_STATUS = {
    "free": "Free",
    "tentative": "Tentative",
    "busy": "Busy",
    "oof": "OOF",
    "workingelsewhere": "WorkingElsewhere",
    "unknown": "NoData",
}
_WEEKDAYS = {
    name: index
    for index, name in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
}

# calendarView/delta tracks a fixed window, chosen on the first call (the deltaLink keeps it).
# Bookings live from today to the page's furthest bookable day (at most a year or two out);
# 30 days back still hears of an owner moving or deleting a booking of the past weeks, which
# staff look at and reports count. A wider window costs every full sync more events.
_DELTA_PAST = timedelta(days=30)
_DELTA_FUTURE = timedelta(days=730)

_CALENDAR_FIELDS = "id,name,canEdit,canViewPrivateItems,isDefaultCalendar,owner"

# getSchedule's per-address responseCode, as the product's errors.
_SCHEDULE_ERRORS: dict[str, type[ExchangeError]] = {
    "ErrorMailRecipientNotFound": MailboxNotFound,
    "ErrorInvalidUser": MailboxNotFound,
    "ErrorNonExistentMailbox": MailboxNotFound,
    "ErrorNoFreeBusyAccess": AccessDenied,
    "ErrorAccessDenied": AccessDenied,
    "ErrorFreeBusyGenerationFailed": AccessDenied,
    "MailboxNotEnabledForRESTAPI": MailboxOnPremises,
}


def forget_connection(conn_pk: int) -> None:
    """Drop the connection's pooled Graph session (credentials changed, or it was deleted).
    Its tokens are oauth's to forget (oauth.forget_connection)."""
    graph_client.forget(conn_pk)


class GraphBackend(Backend):
    def __init__(self, connection: ExchangeConnection) -> None:
        self.connection = connection

    @property
    def _client(self) -> GraphClient:
        return client_for(self.connection)

    @property
    def _app_only(self) -> bool:
        return self.connection.auth_type == AuthType.OAUTH_APP

    def _me(self) -> str:
        return self.connection.email.strip().lower()

    # --- sign-in and access ----------------------------------------------------------

    def verify(self) -> None:
        """Delegated: GET /me (the signed-in user, User.Read). App-only: GET the connection
        mailbox's calendar rather than /users/{it}: that takes User.Read.All, which a
        calendar app is not granted (and shouldn't be), while the calendar proves the
        secret, the Calendars permission and that RBAC for Applications lets the app in."""
        me = self._me()
        if self._app_only:
            with record(self.connection, SyncDirection.VERIFY, "GET calendar", me):
                self._client.get(user_path(me, "calendar"), mailbox=me, params={"$select": "id"})
            return
        with record(self.connection, SyncDirection.VERIFY, "GET me", me):
            self._client.get("/me", mailbox=me, params={"$select": "id,mail,userPrincipalName"})

    def mailbox_access(self, mailbox: str) -> MailboxAccess:
        owner = mailbox.strip().lower()
        try:
            with record(self.connection, SyncDirection.VERIFY, "GET calendar", owner):
                calendar = self._client.get(
                    user_path(owner, "calendar"),
                    mailbox=owner,
                    params={"$select": _CALENDAR_FIELDS},
                )
        except AccessDenied:
            # The folder is closed to us; free/busy may still be shared (the org default).
            if self._free_busy_reachable(owner):
                return MailboxAccess(
                    can_read=True, can_write=False, permission_level="FreeBusyTimeOnly"
                )
            return MailboxAccess(can_read=False, can_write=False, permission_level="")
        return MailboxAccess(
            can_read=True,
            can_write=bool(calendar.get("canEdit")),
            permission_level=self._level(owner, calendar),
        )

    def delegation(self, mailbox: str) -> Delegation | None:
        """Graph has no delegate list (EWS's GetDelegate has no Graph counterpart): callers
        go by the calendar's permissions (canEdit)."""
        return None

    def _level(self, owner: str, calendar: dict[str, Any]) -> str:
        """Graph's role for us in the product's (Exchange's) words, which the UI labels and
        the role rules know. A sharee can't list calendarPermissions (Graph answers an empty
        list), so the level is inferred from what the calendar says we may do."""
        can_edit = bool(calendar.get("canEdit"))
        if not self._app_only and owner == self._me():
            return "Owner"
        if not can_edit:
            return "Reviewer"
        # write, a delegate's roles (delegation is Editor plus the delegate flag: what EWS
        # shows for the same delegate, whether or not they see private items), and an app
        # acting on the mailbox (what impersonation shows over EWS).
        return "Editor"

    # --- discovery -------------------------------------------------------------------

    def discover(self, owner_email: str) -> list[CalendarInfo]:
        owner = owner_email.strip().lower()
        try:
            with record(self.connection, SyncDirection.READ, "GET calendars", owner):
                calendars = [
                    entry
                    for page in self._client.pages(
                        user_path(owner, "calendars"),
                        mailbox=owner,
                        params={"$select": _CALENDAR_FIELDS, "$top": "100"},
                    )
                    for entry in page.get("value", [])
                ]
        except AccessDenied:
            return self._discover_free_busy_only(owner)
        if calendars and not any(c.get("isDefaultCalendar") for c in calendars):
            with record(self.connection, SyncDirection.READ, "GET calendar", owner):
                primary = self._client.get(
                    user_path(owner, "calendar"), mailbox=owner, params={"$select": "id"}
                )
            for c in calendars:
                c["isDefaultCalendar"] = c.get("id") == primary.get("id")
        found = []
        for calendar in calendars:
            primary = bool(calendar.get("isDefaultCalendar"))
            found.append(
                CalendarInfo(
                    owner_email=owner,
                    # "" for the primary: busy time through getSchedule, writes to /calendar.
                    folder_id="" if primary else str(calendar.get("id") or ""),
                    name=str(calendar.get("name") or "Calendar"),
                    is_primary=primary,
                    permission_level=self._level(owner, calendar),
                    can_create=bool(calendar.get("canEdit")),
                    # Listed at all means readable: Graph doesn't list a folder we can't read.
                    can_read_items=True,
                )
            )
        # The primary first, as EWS discovery lists it.
        return sorted(found, key=lambda info: not info.is_primary)

    def _discover_free_busy_only(self, owner: str) -> list[CalendarInfo]:
        """The calendars can't be listed; free/busy may still be shared (as ews.py's)."""
        if not self._free_busy_reachable(owner):
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

    def _free_busy_reachable(self, owner: str) -> bool:
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        try:
            (answer,) = self._schedule([owner], now, now + timedelta(days=1))
        except AccessDenied:
            return False
        error = _schedule_error(answer, owner)
        if isinstance(error, MailboxNotFound | MailboxOnPremises):
            raise error
        return error is None

    # --- busy time -------------------------------------------------------------------

    def busy(
        self, targets: list[CalendarTarget], start: datetime, end: datetime
    ) -> dict[CalendarTarget, list[BusyInterval]]:
        return self.start_busy(targets, start, end)()

    def start_busy(
        self, targets: list[CalendarTarget], start: datetime, end: datetime
    ) -> Callable[[], dict[CalendarTarget, list[BusyInterval]]]:
        """Every request but the first starts now in the shared pool (getSchedule batches of
        20 per window of under 62 days, one calendarView per other calendar); the first is
        made by the caller's thread when it asks for the answers, as ews.py does. Sync log
        rows are written by the caller's thread."""
        primaries = list(dict.fromkeys(t for t in targets if not t.folder_id))
        folders = list(dict.fromkeys(t for t in targets if t.folder_id))
        jobs: list[Callable[[], dict[CalendarTarget, list[BusyInterval]]]] = []
        for lo, hi in schedule_windows(start, end):
            for i in range(0, len(primaries), SCHEDULE_BATCH):
                batch = primaries[i : i + SCHEDULE_BATCH]
                jobs.append(lambda b=batch, lo=lo, hi=hi: self._free_busy(b, lo, hi))
        for target in folders:
            jobs.append(lambda t=target: {t: self._calendar_view(t, start, end)})
        if not jobs:
            return lambda: {}
        if len(jobs) > 1:
            # The access token first, in this thread: otherwise every pool thread finding
            # none cached redeems the refresh token at once (each rotating it and writing
            # the new one to the database from its own thread, which SQLite refuses while
            # this thread holds a transaction). Cached, this costs a dictionary lookup.
            oauth.graph_access_token(self.connection)
        collector = Collector()
        futures = [collector.submit(_pool(), job) for job in jobs[1:]]

        def answers() -> dict[CalendarTarget, list[BusyInterval]]:
            try:
                first = collector.run(jobs[0])
            finally:
                wait(futures)  # every row is in before they are written
                collector.flush()
            found: dict[CalendarTarget, list[BusyInterval]] = {t: [] for t in targets}
            for answer in [first, *(future.result() for future in futures)]:
                for target, intervals in answer.items():
                    found.setdefault(target, []).extend(intervals)
            # An event across a window boundary comes back from both windows, whole.
            return {
                target: sorted(dict.fromkeys(intervals), key=lambda b: (b.start, b.end))
                for target, intervals in found.items()
            }

        return answers

    def _schedule(self, owners: list[str], start: datetime, end: datetime) -> list[dict]:
        """One getSchedule, asked of the connection's own mailbox (any mailbox the token
        reaches would do; the schedules are looked up for whoever asks). One answer per
        owner, in order."""
        me = self._me()
        with record(self.connection, SyncDirection.READ, "getSchedule", ",".join(owners)):
            answer = self._client.request(
                "POST",
                user_path(me, "calendar", "getSchedule"),
                mailbox=me,
                body={
                    "schedules": owners,
                    "startTime": _graph_time(start),
                    "endTime": _graph_time(end),
                    "availabilityViewInterval": _VIEW_INTERVAL,
                },
            )
        values = (answer or {}).get("value", [])
        by_address = {str(v.get("scheduleId", "")).lower(): v for v in values}
        # Matched by address, not position: Graph answers in order, but says whose it is.
        return [
            by_address.get(owner.lower(), values[i] if i < len(values) else {})
            for i, owner in enumerate(owners)
        ]

    def _free_busy(
        self, targets: list[CalendarTarget], start: datetime, end: datetime
    ) -> dict[CalendarTarget, list[BusyInterval]]:
        answers = self._schedule([t.owner_email.strip().lower() for t in targets], start, end)
        result: dict[CalendarTarget, list[BusyInterval]] = {}
        for target, answer in zip(targets, answers, strict=True):
            error = _schedule_error(answer, target.owner_email)
            if error is not None:
                # As over EWS (ews.py's _free_busy): a mailbox Exchange can't answer for
                # fails the read, and the caller treats that busy time as unavailable
                # rather than showing its time as free.
                raise error
            result[target] = [
                interval
                for item in answer.get("scheduleItems") or []
                if (interval := _interval(item, item.get("status"))) is not None
                and interval.end > start
                and interval.start < end
            ]
        return result

    def _calendar_view(
        self, target: CalendarTarget, start: datetime, end: datetime
    ) -> list[BusyInterval]:
        owner = target.owner_email.strip().lower()
        found: list[BusyInterval] = []
        with record(self.connection, SyncDirection.READ, "calendarView", owner):
            for page in self._client.pages(
                _calendar_path(owner, target.folder_id, "calendarView"),
                mailbox=owner,
                params={
                    "startDateTime": _iso(start),
                    "endDateTime": _iso(end),
                    # When and how busy: never a subject (not even asked for).
                    # The original zones date all-day events (see _interval).
                    "$select": (
                        "showAs,start,end,isAllDay,originalStartTimeZone,originalEndTimeZone"
                    ),
                    "$top": _PAGE,
                },
            ):
                for item in page.get("value", []):
                    interval = _interval(item, item.get("showAs"))
                    # Events touching the window's edge (and zero-length ones) block nothing.
                    if interval and interval.end > start and interval.start < end:
                        found.append(interval)
        return found

    # --- working hours ---------------------------------------------------------------

    def working_hours(
        self, owner_email: str, *, zone_hints: Sequence[str] = ()
    ) -> WorkingHours | None:
        """Outlook's work hours from getSchedule's workingHours (free/busy permission is
        enough, as over EWS). Graph names the zone, usually the Windows way."""
        owner = owner_email.strip().lower()
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        (answer,) = self._schedule([owner], now, now + timedelta(hours=1))
        error = _schedule_error(answer, owner)
        if error is not None:
            raise error
        hours = answer.get("workingHours")
        if not hours or not hours.get("daysOfWeek"):
            return None
        zone_name = str((hours.get("timeZone") or {}).get("name") or "")
        zone = _iana_zone(zone_name, zone_hints)
        if zone is None:
            raise ExchangeError(
                "Exchange sent working hours in a time zone this app can't identify.",
                detail=zone_name,
            )
        days = tuple(
            sorted({_WEEKDAYS[d.lower()] for d in hours["daysOfWeek"] if d.lower() in _WEEKDAYS})
        )
        return WorkingHours(
            zone=zone,
            periods=(
                WorkingPeriod(
                    weekdays=days,
                    start=_wall(hours.get("startTime")),
                    end=_wall(hours.get("endTime")),
                ),
            ),
            zone_note="" if zone_name == zone else f"Microsoft Graph named it {zone_name}.",
        )

    # --- events ----------------------------------------------------------------------

    def find_event(self, target: CalendarTarget, uid: str) -> str | None:
        owner = target.owner_email.strip().lower()
        value = uid.replace("'", "''")  # OData string literal
        with record(self.connection, SyncDirection.READ, "GET events", owner):
            page = self._client.get(
                _calendar_path(owner, target.folder_id, "events"),
                mailbox=owner,
                params={
                    "$filter": (
                        "singleValueExtendedProperties/Any(ep: ep/id eq "
                        f"'{BOOKING_UID_PROPERTY}' and ep/value eq '{value}')"
                    ),
                    "$select": "id",
                    "$top": "1",
                },
            )
        for item in page.get("value", []):
            return str(item["id"])
        return None

    def event_times(
        self, target: CalendarTarget, item_ids: list[str]
    ) -> dict[str, tuple[datetime, datetime] | None]:
        """Each event read by its immutable id, in parallel, with the calendar it is in now.
        Graph binds an event id wherever the item is: /calendars/{id}/events/{id} answers
        for an event in another calendar too (microsoft-graph-docs#391), and an immutable
        id still names an event moved to Deleted Items. So the calendar is compared, not
        trusted from the path: one the owner moved elsewhere, or deleted, is gone as far as
        the booking is concerned (as over EWS)."""
        if not item_ids:
            return {}
        owner = target.owner_email.strip().lower()
        calendar_id = target.folder_id or self._primary_calendar_id(owner)
        collector = Collector()

        def one(item_id: str) -> tuple[datetime, datetime] | None:
            with record(self.connection, SyncDirection.READ, "GET event", owner):
                try:
                    event = self._client.get(
                        user_path(owner, "events", item_id),
                        mailbox=owner,
                        params={
                            "$select": "start,end,isCancelled",
                            "$expand": "calendar($select=id)",
                        },
                    )
                except ItemNotFound:
                    return None
            if event.get("isCancelled"):
                return None
            if str((event.get("calendar") or {}).get("id") or "") != calendar_id:
                return None
            return _utc(event["start"]), _utc(event["end"])

        futures = {i: collector.submit(_pool(), lambda i=i: one(i)) for i in item_ids}
        try:
            wait(futures.values())
        finally:
            collector.flush()
        return {item_id: future.result() for item_id, future in futures.items()}

    def _primary_calendar_id(self, owner: str) -> str:
        """The id of `owner`'s primary calendar, which a target names as "" (event_times
        compares it with the calendar each event is in)."""
        with record(self.connection, SyncDirection.READ, "GET calendar", owner):
            calendar = self._client.get(
                user_path(owner, "calendar"), mailbox=owner, params={"$select": "id"}
            )
        return str(calendar.get("id") or "")

    def create_event(self, target: CalendarTarget, event: EventData) -> str:
        owner = target.owner_email.strip().lower()
        body = {
            **_fields(event),
            "transactionId": str(uuid.uuid5(_TRANSACTION_NAMESPACE, event.uid)),
            "singleValueExtendedProperties": [{"id": BOOKING_UID_PROPERTY, "value": event.uid}],
        }
        try:
            with record(self.connection, SyncDirection.WRITE, "POST event", owner):
                created = self._client.request(
                    "POST",
                    _calendar_path(owner, target.folder_id, "events"),
                    mailbox=owner,
                    body=body,
                )
        except ExchangeError as exc:
            # A retried POST Graph recognised by its transactionId: the event exists.
            if "duplicate" in exc.detail.lower() or exc.detail.startswith("409"):
                found = self.find_event(target, event.uid)
                if found:
                    return found
            raise
        return str((created or {})["id"])

    def update_event(self, target: CalendarTarget, item_id: str, event: EventData) -> str:
        """PATCH without an ETag: the booking's time wins over an edit the owner made in
        between, as the EWS backend's conflict retry ends up doing."""
        owner = target.owner_email.strip().lower()
        with record(self.connection, SyncDirection.WRITE, "PATCH event", owner):
            self._client.request(
                "PATCH",
                user_path(owner, "events", item_id),
                mailbox=owner,
                body=_fields(event),
            )
        return item_id

    def delete_event(self, target: CalendarTarget, item_id: str) -> None:
        """DELETE moves the event to the owner's Deleted Items (restorable, as over EWS) and
        sends the cancellation to an invited customer."""
        owner = target.owner_email.strip().lower()
        with record(self.connection, SyncDirection.WRITE, "DELETE event", owner):
            try:
                self._client.request("DELETE", user_path(owner, "events", item_id), mailbox=owner)
            except ItemNotFound:
                return  # deleted by someone else in the meantime: what we wanted

    def join_url(self, target: CalendarTarget, item_id: str) -> str | None:
        owner = target.owner_email.strip().lower()
        with record(self.connection, SyncDirection.READ, "GET event", owner):
            event = self._client.get(
                user_path(owner, "events", item_id),
                mailbox=owner,
                params={"$select": "onlineMeeting,isOnlineMeeting"},
            )
        meeting = event.get("onlineMeeting") or {}
        url = meeting.get("joinUrl") if isinstance(meeting, dict) else None
        return str(url) if url else None

    # --- change tracking -------------------------------------------------------------

    def changes(self, target: CalendarTarget, state: str) -> Changes:
        """calendarView/delta over a fixed window (see _DELTA_PAST/_DELTA_FUTURE), following
        nextLinks to the deltaLink, which is the state. A state that is not a Graph
        deltaLink (an EWS SyncState from before the connection moved to Graph), one Graph
        refuses (410, expired token) is lost: read everything once and start again."""
        owner = target.owner_email.strip().lower()
        client = self._client
        if state:
            if not state.startswith(client.base + "/"):
                raise SyncStateLost(detail="not a Graph deltaLink")
            url, params = state, None
        else:
            now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            url = _calendar_path(owner, target.folder_id, "calendarView", "delta")
            params = {
                "startDateTime": _iso(now - _DELTA_PAST),
                "endDateTime": _iso(now + _DELTA_FUTURE),
            }
        changed: set[str] = set()
        deleted: set[str] = set()
        with record(self.connection, SyncDirection.READ, "calendarView delta", owner):
            page = client.get(url, mailbox=owner, params=params)
            while True:
                for item in page.get("value", []):
                    item_id = str(item.get("id", ""))
                    if not item_id:
                        continue
                    if "@removed" in item:
                        deleted.add(item_id)
                        changed.discard(item_id)
                    else:
                        changed.add(item_id)
                        deleted.discard(item_id)
                link = page.get("@odata.nextLink")
                if not link:
                    break
                page = client.get(link, mailbox=owner)
        delta = page.get("@odata.deltaLink")
        if not delta:
            raise ExchangeError("Microsoft Graph ended a change list without a deltaLink.")
        return Changes(
            state=str(delta), changed_ids=frozenset(changed), deleted_ids=frozenset(deleted)
        )


# --- helpers -------------------------------------------------------------------------


def schedule_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into windows getSchedule answers (under 62 days each)."""
    windows = []
    while end - start > SCHEDULE_WINDOW:
        windows.append((start, start + SCHEDULE_WINDOW))
        start += SCHEDULE_WINDOW
    windows.append((start, end))
    return windows


def _calendar_path(owner: str, folder_id: str, *rest: str) -> str:
    if folder_id:
        return user_path(owner, "calendars", folder_id, *rest)
    return user_path(owner, "calendar", *rest)


def _schedule_error(answer: dict[str, Any], owner: str) -> ExchangeError | None:
    error = answer.get("error")
    if not error:
        return None if answer else MailboxNotFound(f"Exchange Online has no mailbox {owner}.")
    code = str(error.get("responseCode") or error.get("code") or "")
    kind = _SCHEDULE_ERRORS.get(code)
    if kind is MailboxNotFound:
        return MailboxNotFound(f"Exchange Online has no mailbox {owner}.", detail=code)
    if kind is AccessDenied:
        return AccessDenied(f"{owner} does not share free/busy time with us.", detail=code)
    if kind is MailboxOnPremises:
        return MailboxOnPremises(
            f"The mailbox {owner} is on the organisation's own Exchange Server "
            "(on-premises), which Microsoft Graph can't reach. It is reached over EWS.",
            detail=code,
        )
    return ExchangeError(
        f"Exchange could not give the free/busy time of {owner}.", detail=code or "error"
    )


def _interval(item: dict[str, Any], status: Any) -> BusyInterval | None:
    """One event's time and free/busy status (free included), or None when it has no times.

    An all-day event (calendarView's isAllDay) blocks whole days in the event's own zone.
    Graph sends its dates, not instants: midnights on the wall clock of the event's zone,
    labelled "UTC" (or the Prefer zone) all the same; the zone is originalStartTimeZone.
    Each edge is dated on its own and becomes that day's midnight in the event's zone:
    nothing is derived from the other edge ("end minus 24 hours" dates a spring-forward last
    day, 23 hours long, to the day before)."""
    word = _STATUS.get(str(status or "busy").lower(), "Busy")
    start, end = item.get("start"), item.get("end")
    if not start or not end:
        return None
    if item.get("isAllDay"):
        return BusyInterval(
            start=_all_day_edge(start, item.get("originalStartTimeZone")),
            end=_all_day_edge(end, item.get("originalEndTimeZone")),
            status=word,
        )
    return BusyInterval(start=_utc(start), end=_utc(end), status=word)


def _all_day_edge(value: dict[str, Any], zone_name: Any) -> datetime:
    """The UTC instant of an all-day edge: its day's midnight in the event's zone (UTC when
    Graph names none this app knows). A wall clock at midnight is the date as Graph dates
    all-day events; any other time is read as the instant it says and rounded to the
    nearest midnight in the event's zone (an answer giving the true instant instead)."""
    zone = ZoneInfo(_iana_zone(str(zone_name or ""), ()) or "UTC")
    wall = datetime.fromisoformat(str(value["dateTime"]))
    if wall.tzinfo is None and wall.time() == time(0):
        day = wall.date()
    else:
        local = _utc(value).astimezone(zone).replace(tzinfo=None)
        day = (local + timedelta(hours=12)).date()
    # A midnight skipped by DST reads with the offset before the change: the instant the
    # day's first existing minute begins.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _utc(value: dict[str, Any]) -> datetime:
    """A dateTimeTimeZone as an aware UTC datetime. Graph writes 7 fractional digits
    ("2027-03-28T00:00:00.0000000"), which fromisoformat reads from Python 3.11."""
    moment = datetime.fromisoformat(str(value["dateTime"]))
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    name = str(value.get("timeZone") or "UTC")
    zone = _iana_zone(name, ()) if name.upper() not in ("UTC", "Z") else "UTC"
    return moment.replace(tzinfo=ZoneInfo(zone or "UTC")).astimezone(UTC)


def _iana_zone(name: str, hints: Sequence[str]) -> str | None:
    """An IANA name for Graph's zone name: IANA already, or a Windows id (mapped through
    exchangelib's CLDR table, preferring a hinted zone that maps to the same Windows id)."""
    if not name:
        return None
    if name in _iana_names():
        return name
    for hint in hints:
        if IANA_TO_MS_TIMEZONE_MAP.get(hint, ("",))[0] == name:
            return hint
    mapped = MS_TIMEZONE_TO_IANA_MAP.get(name)
    if mapped:
        return mapped
    if name.lower() in ("utc", "coordinated universal time"):
        return "UTC"
    return None


_IANA: frozenset[str] = frozenset()


def _iana_names() -> frozenset[str]:
    global _IANA
    if not _IANA:
        _IANA = frozenset(available_timezones())
    return _IANA


def _wall(text: Any) -> time:
    """Graph's "08:30:00.0000000" as a time; midnight (an end at 24:00) is time(0)."""
    if not text:
        return time(0)
    hours, minutes, *_ = str(text).split(":")
    return time(int(hours) % 24, int(minutes))


def _iso(moment: datetime) -> str:
    """An ISO 8601 UTC instant for calendarView's query string."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _graph_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def _local(moment: datetime, zone: str) -> dict[str, str]:
    """A dateTimeTimeZone in the event's own zone, so Outlook shows it as the page meant
    (Graph accepts IANA names as well as Windows ones)."""
    try:
        local = moment.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        local, zone = moment.astimezone(UTC), "UTC"
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": zone}


def _fields(event: EventData) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "subject": event.subject,
        "body": {"contentType": "text", "content": event.body},
        "location": {"displayName": event.location},
        "start": _local(event.start, event.timezone),
        "end": _local(event.end, event.timezone),
        "showAs": "busy",
        "isReminderOn": False,
        # A booking is a timed event; should the owner have made it all-day in Outlook, a
        # reschedule makes it timed again.
        "isAllDay": False,
    }
    if event.invite_email:
        # An event with attendees always sends Graph's invitation (the page asked for it).
        fields["attendees"] = [
            {"emailAddress": {"address": event.invite_email}, "type": "required"}
        ]
    if event.online_meeting:
        # Once on, Graph can't switch it off again: only ever sent as true.
        fields["isOnlineMeeting"] = True
        fields["onlineMeetingProvider"] = "teamsForBusiness"
    return fields


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """One pool per process for parallel Graph requests, created on first use (never
    inherited across a gunicorn or Celery fork). 16 threads, matching the session pool."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(
                max_workers=graph_client.POOL_SIZE, thread_name_prefix="graph"
            )
        return _POOL


def _forget_pool() -> None:
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()  # a forked child has none of the threads
    graph_client.forget_all_after_fork()


os.register_at_fork(after_in_child=_forget_pool)
