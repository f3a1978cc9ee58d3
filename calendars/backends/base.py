"""The interface between the product and a calendar server.

Booking code talks to `calendars.connect`, `calendars.discovery`, `calendars.busy` and
`calendars.events`; those pick a backend implementing this interface. Today there is one,
EWS through exchangelib (`backends/ews.py`); a Microsoft Graph backend for Exchange Online
can be added beside it without touching booking code.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime


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


class Backend(abc.ABC):
    @abc.abstractmethod
    def verify(self) -> None:
        """Sign in and make one cheap call; raise an ExchangeError when that fails."""

    @abc.abstractmethod
    def mailbox_access(self, mailbox: str) -> MailboxAccess:
        """What this connection may do with `mailbox`'s calendar (delegation check)."""

    @abc.abstractmethod
    def discover(self, owner_email: str) -> list[CalendarInfo]:
        """Every calendar of `owner_email` this connection can see."""

    @abc.abstractmethod
    def busy(
        self, targets: list[CalendarTarget], start: datetime, end: datetime
    ) -> dict[CalendarTarget, list[BusyInterval]]:
        """Busy intervals per calendar, fetched with as few round trips as possible."""

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
