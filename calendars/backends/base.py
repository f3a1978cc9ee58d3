"""The interface between the product and a calendar server.

Booking code talks to `calendars.connect`, `calendars.discovery`, `calendars.busy` and
`calendars.events`; those pick a backend implementing this interface. Today there is one,
EWS through exchangelib (`backends/ews.py`); a Microsoft Graph backend for Exchange Online
can be added beside it without touching booking code.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time

from calendars.errors import ExchangeError


@dataclass(frozen=True)
class CalendarInfo:
    """A calendar an owner shares with the connection, and what it may be used for."""

    owner_email: str
    folder_id: str  # "" = the owner's primary calendar, reachable through free/busy only
    name: str
    is_primary: bool
    permission_level: str
    can_create: bool
    can_read_items: bool


@dataclass(frozen=True)
class MailboxAccess:
    """What the connection may do with another mailbox's primary calendar."""

    can_read: bool
    can_write: bool
    permission_level: str


@dataclass(frozen=True)
class Delegation:
    """Whether the connection is on a mailbox's delegate list, and with what.

    Exchange keeps delegation in two places: the delegate list (Outlook's Delegate Access)
    and the folder permissions a delegate is granted. A calendar shared with Editor works
    for booking without the first; this says which of the two a member set up.
    """

    is_delegate: bool
    # The delegate's calendar level: Editor, Reviewer, Author, None or Custom.
    calendar_permission: str = ""
    sees_private_items: bool = False
    receives_meeting_copies: bool = False


@dataclass(frozen=True)
class CalendarTarget:
    """Where to read busy time from or write an event to."""

    owner_email: str
    folder_id: str = ""  # "" = primary calendar
    can_read_items: bool = True


@dataclass(frozen=True)
class BusyInterval:
    """Busy time with every detail withheld: when, and how busy. Never a subject."""

    start: datetime  # aware, UTC
    end: datetime
    status: str  # Free, Tentative, Busy, OOF, WorkingElsewhere, NoData


@dataclass(frozen=True)
class EventData:
    uid: str  # the booking's identity, stamped on the event so a retry finds it
    subject: str
    body: str
    location: str
    start: datetime
    end: datetime
    timezone: str  # IANA name the event is shown in
    invite_email: str | None = None  # send Exchange's meeting invitation to this attendee
    # A Teams meeting on the event (Graph only: EWS can't create one, IsOnlineMeeting is
    # read-only there, so the EWS backend leaves it out).
    online_meeting: bool = False


@dataclass(frozen=True)
class WorkingPeriod:
    weekdays: tuple[int, ...]  # 0 = Monday
    start: time
    end: time  # time(0) = midnight at the end of the day


@dataclass(frozen=True)
class WorkingHours:
    """An owner's working hours as their calendar server keeps them (Outlook's "work hours"):
    wall-clock times in `zone` on each date, whatever its offset that day."""

    zone: str  # IANA name
    periods: tuple[WorkingPeriod, ...]
    # How `zone` was found, for staff: Exchange sends offsets and DST rules, not a name
    # ("matched from UTC-05:00 with DST from the 2nd Sunday of March ..."); "" when named.
    zone_note: str = ""


@dataclass(frozen=True)
class Changes:
    """What changed in one calendar folder since a sync state: ids only, never content."""

    state: str  # hand it back next time to hear only what happened after this answer
    changed_ids: frozenset[str]  # created or changed (moved, edited) since the old state
    deleted_ids: frozenset[str]  # gone from the folder (deleted, or moved to Deleted Items)

    @property
    def any(self) -> bool:
        return bool(self.changed_ids or self.deleted_ids)


class SyncStateLost(ExchangeError):
    """The server no longer accepts the sync state (corrupt, too old, another folder's): the
    caller must read everything once and start again from the state `changes(target, "")`
    gives."""

    code = "sync_state_lost"
    default_message = "Exchange no longer recognises where the last sync left off."


class Backend(abc.ABC):
    @abc.abstractmethod
    def verify(self) -> None:
        """Sign in and make one cheap call; raise an ExchangeError when that fails."""

    @abc.abstractmethod
    def mailbox_access(self, mailbox: str) -> MailboxAccess:
        """What this connection may do with `mailbox`'s calendar (delegation check)."""

    def delegation(self, mailbox: str) -> Delegation | None:
        """Whether this connection is `mailbox`'s delegate. None when the server won't tell
        this connection (Exchange shows a delegate list only to the owner, FullAccess or
        impersonation) or the backend can't ask: callers then go by folder permissions."""
        return None

    @abc.abstractmethod
    def discover(self, owner_email: str) -> list[CalendarInfo]:
        """Every calendar of `owner_email` this connection can see."""

    @abc.abstractmethod
    def busy(
        self, targets: list[CalendarTarget], start: datetime, end: datetime
    ) -> dict[CalendarTarget, list[BusyInterval]]:
        """Busy intervals per calendar, fetched with as few round trips as possible."""

    def start_busy(
        self, targets: list[CalendarTarget], start: datetime, end: datetime
    ) -> Callable[[], dict[CalendarTarget, list[BusyInterval]]]:
        """Start reading busy time and return what waits for the answer, so the caller can
        do other work while Exchange answers. By default nothing starts before it is asked."""
        return lambda: self.busy(targets, start, end)

    @abc.abstractmethod
    def find_event(self, target: CalendarTarget, uid: str) -> str | None:
        """The item id of the event stamped with `uid`, if one exists."""

    @abc.abstractmethod
    def event_times(
        self, target: CalendarTarget, item_ids: list[str]
    ) -> dict[str, tuple[datetime, datetime] | None]:
        """Where each event is now (UTC start, end), or None for an event that is gone."""

    @abc.abstractmethod
    def create_event(self, target: CalendarTarget, event: EventData) -> str:
        """Create the event and return its item id."""

    @abc.abstractmethod
    def update_event(self, target: CalendarTarget, item_id: str, event: EventData) -> str:
        """Move or change the event in place; returns the (unchanged) item id."""

    @abc.abstractmethod
    def delete_event(self, target: CalendarTarget, item_id: str) -> None:
        """Delete the event; an event already gone is not an error."""

    def join_url(self, target: CalendarTarget, item_id: str) -> str | None:
        """The online meeting's join link of an event the app created with
        `online_meeting=True`, or None: no meeting (yet), or a backend that can't make one
        (EWS can't create Teams meetings)."""
        return None

    def changes(self, target: CalendarTarget, state: str) -> Changes:
        """What changed in the calendar since `state` ("": start afresh, every item counts as
        changed). Raises SyncStateLost when the server refuses `state`. Not abstract: a
        backend without change tracking lets its callers fall back to reading every event
        (NotImplementedError); Graph would use calendarView/delta."""
        raise NotImplementedError(f"{type(self).__name__} can't track changes")

    def working_hours(
        self, owner_email: str, *, zone_hints: Sequence[str] = ()
    ) -> WorkingHours | None:
        """The owner's working hours (None: the server has none for them). `zone_hints` are
        IANA zones to prefer when the server gives only offsets and rules. Not abstract, so a
        backend can come without it; EWS reads GetUserAvailability's WorkingHours, a Graph
        backend would read mailboxSettings.workingHours (which names its zone)."""
        raise NotImplementedError(f"{type(self).__name__} can't read working hours")
