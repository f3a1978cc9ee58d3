"""The simulator's mailbox store: mailboxes, folders, calendar items, sent meeting mail.

Plain dataclasses behind one re-entrant lock (`Store.lock`): every request handler thread
takes it for the whole operation, which keeps reads consistent and is plenty fast for tests.
"""

from __future__ import annotations

import base64
import os
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from .permissions import DEFAULT, Level


class StoreError(Exception):
    """A refusal by the store, named by Exchange's response code (ErrorItemNotFound,
    ErrorAccessDenied, ...): the code is the store's vocabulary, and each protocol face
    renders it (a ResponseCode in EWS, an HTTP status and error object in Graph)."""

    def __init__(self, code: str, message: str = "", values: dict[str, str] | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message or code
        self.values = values or {}


# Extended property identity: the ExtendedFieldURI attributes that name the property
# (property set + name/id/tag). PropertyType is not part of the identity.
ExtendedKey = tuple[str, str, str, str]


def extended_key(attrs: dict[str, str]) -> ExtendedKey:
    """Normalise an ExtendedFieldURI's attributes to a hashable identity."""
    property_set = (
        attrs.get("DistinguishedPropertySetId") or attrs.get("PropertySetId") or ""
    ).lower()
    tag = attrs.get("PropertyTag", "")
    if tag:
        tag = hex(int(tag, 16) if tag.lower().startswith("0x") else int(tag))
    return property_set, tag, attrs.get("PropertyName", ""), attrs.get("PropertyId", "")


def new_id(kind: bytes) -> str:
    """An opaque, base64 Exchange-looking id; `kind` keeps folder and item ids apart."""
    return base64.b64encode(b"\x00\x00" + kind + uuid.uuid4().bytes + b"\x00").decode()


def new_change_key() -> str:
    return base64.b64encode(b"\x0f\x00\x00\x00" + os.urandom(12)).decode()


def occurrence_id(master_id: str, index: int) -> str:
    """Occurrence ids encode the master and the 1-based instance index, like Exchange's."""
    raw = base64.b64decode(master_id)
    return base64.b64encode(b"\x01" + index.to_bytes(4, "big") + raw).decode()


def split_occurrence_id(item_id: str) -> tuple[str, int] | None:
    try:
        raw = base64.b64decode(item_id, validate=True)
    except ValueError:
        return None
    if len(raw) < 6 or raw[0] != 1:
        return None
    return base64.b64encode(raw[5:]).decode(), int.from_bytes(raw[1:5], "big")


@dataclass
class ExtendedProp:
    attrs: dict[str, str]  # the ExtendedFieldURI attributes as sent, PropertyType included
    values: list[str]
    is_array: bool = False


@dataclass
class Attendee:
    email: str
    name: str = ""
    kind: str = "Required"  # Required / Optional / Resource


# What an exception may change on its own; everything else it takes from its master, so a
# later change to the master's subject still shows on an exception that only moved. Exchange
# keeps exceptions as overridden properties on the master (MS-OXOCAL: PidLidAppointmentRecur's
# ExceptionInfo, and an attachment per exception).
EXCEPTION_FIELDS = (
    "tz",
    "subject",
    "body",
    "body_type",
    "location",
    "is_all_day",
    "status",
    "sensitivity",
    "importance",
    "categories",
    "reminder_is_set",
    "reminder_minutes",
    "attendees",
    "extended",
)


@dataclass
class ModifiedOccurrence:
    """One exception of a recurring series: its own times and the properties it overrides."""

    index: int  # 1-based instance index in the series
    original_start: datetime  # aware, UTC: where the pattern puts it (its RecurrenceId)
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC
    overrides: dict[str, Any] = field(default_factory=dict)
    change_key: str = field(default_factory=new_change_key)
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class CalendarItem:
    id: str
    folder_id: str
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC
    tz: str = "UTC"  # IANA name; Windows id on the wire
    subject: str = ""
    body: str = ""
    body_type: str = "Text"
    location: str = ""
    is_all_day: bool = False
    status: str = "Busy"  # LegacyFreeBusyStatus
    sensitivity: str = "Normal"
    importance: str = "Normal"
    categories: list[str] = field(default_factory=list)
    reminder_is_set: bool = True
    reminder_minutes: int = 15
    organizer: tuple[str, str] = ("", "")  # (smtp, display name)
    attendees: list[Attendee] = field(default_factory=list)
    recurrence: Any = None  # recurrence.Recurrence, built by recurrence.parse_recurrence
    deleted_occurrences: set[date] = field(default_factory=set)
    # Exceptions: occurrences changed on their own ("this week's stand-up at 11:00"), by their
    # 1-based instance index (stable: deleting an occurrence doesn't renumber the others).
    modified_occurrences: dict[int, ModifiedOccurrence] = field(default_factory=dict)
    extended: dict[ExtendedKey, ExtendedProp] = field(default_factory=dict)
    uid: str = field(default_factory=lambda: uuid.uuid4().hex.upper())
    change_key: str = field(default_factory=new_change_key)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))
    creator: str = ""  # smtp of whoever created it, for Author's "own items" rule
    is_meeting: bool = False
    meeting_request_was_sent: bool = False
    # Graph's immutable id (Prefer: IdType="ImmutableId"): unlike `id` it survives moves to
    # another folder (Deleted Items), as Exchange Online's immutable ids do.
    immutable_id: str = field(default_factory=lambda: new_id(b"M"))
    transaction_id: str = ""  # Graph's client-chosen transactionId on create, if any
    # Teams meetings (Graph's isOnlineMeeting + onlineMeetingProvider "teamsForBusiness").
    is_online_meeting: bool = False
    online_meeting_url: str = ""

    def touch(self) -> None:
        """Every change gets a new ChangeKey (and keeps the same Id), as Exchange does."""
        self.change_key = new_change_key()
        self.modified = datetime.now(UTC)


@dataclass
class Folder:
    id: str
    mailbox: str  # owner smtp, lower case
    parent_id: str | None
    name: str
    folder_class: str | None = "IPF.Appointment"
    distinguished: str | None = None  # "root", "msgfolderroot", "calendar", "deleteditems"
    # grantee -> level; grantee is a lower-case smtp address, DEFAULT or ANONYMOUS
    permissions: dict[str, Level] = field(default_factory=dict)
    change_key: str = field(default_factory=new_change_key)
    items: dict[str, CalendarItem] = field(default_factory=dict)

    @property
    def is_calendar(self) -> bool:
        return self.folder_class == "IPF.Appointment"


@dataclass(frozen=True)
class WorkingPeriod:
    """Outlook's work hours: these days (wire names, "Monday".."Sunday"), from `start` to
    `end` minutes after midnight (1440 = midnight at the end), in the mailbox's time zone."""

    days: tuple[str, ...]
    start: int
    end: int


# What a mailbox nobody has configured answers: Exchange's (and Outlook's) default work week.
DEFAULT_WORKING_HOURS = (
    WorkingPeriod(("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"), 8 * 60, 17 * 60),
)


@dataclass
class DelegateEntry:
    """One entry of a mailbox's delegate list (Outlook's Delegate Access, EWS AddDelegate).

    Exchange keeps the list apart from folder permissions (in the mailbox's delegate
    information object), so a delegate's calendar level is read from the calendar folder
    itself: change the folder permission and GetDelegate reports the new level.
    """

    smtp: str  # lower case
    receive_copies_of_meeting_messages: bool = False
    view_private_items: bool = False


@dataclass
class Mailbox:
    smtp: str  # lower case primary smtp address
    display_name: str
    password: str
    logins: list[str] = field(default_factory=list)  # "DOMAIN\\user", UPN
    locked: bool = False
    root_id: str = ""
    msgfolderroot_id: str = ""
    calendar_id: str = ""
    delegates: list[DelegateEntry] = field(default_factory=list)
    # Mailbox-level FullAccess (Add-MailboxPermission -AccessRights FullAccess): lower-case
    # smtp addresses that may open every folder and read the delegate list.
    full_access: set[str] = field(default_factory=set)
    # The mailbox's time zone (IANA; Windows id on the wire) and Outlook's work hours in it,
    # which GetUserAvailability returns as WorkingHours. Set them under `Store.lock`.
    timezone: str = "UTC"
    working_hours: tuple[WorkingPeriod, ...] = DEFAULT_WORKING_HOURS
    deleteditems_id: str = ""
    # Entra's object id, which Graph names users by (/users/{id}) beside their UPN.
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # Where the mailbox lives in a hybrid organisation: on the organisation's own Exchange
    # Server (reached over EWS only; Graph answers MailboxNotEnabledForRESTAPI) or in
    # Exchange Online (Graph, and EWS while the tenant still allows it).
    on_premises: bool = False


@dataclass
class SentMail:
    """A meeting request or cancellation the simulator 'sent' instead of delivering."""

    kind: str  # "invitation", "update" or "cancellation"
    sender: str
    recipients: list[str]
    subject: str
    item_id: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class Store:
    """All mailboxes. Callers hold `lock` while reading or changing anything."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.mailboxes: dict[str, Mailbox] = {}
        self.folders: dict[str, Folder] = {}
        self.sent: list[SentMail] = []
        # EWSFindCountLimit, the throttling budget of entries one FindItem may return (1000
        # in Exchange's default policy); tests set it low to reach the limit cheaply.
        self.find_count_limit = 1000
        # RBAC for Applications (New-ManagementScope + New-ManagementRoleAssignment
        # -CustomResourceScope): application id -> the mailboxes its app-only Graph tokens may
        # reach. An application without an entry reaches every mailbox, as a tenant-wide
        # Entra consent does.
        self.app_scopes: dict[str, set[str]] = {}

    def add_mailbox(
        self, smtp: str, display_name: str, password: str, logins: list[str] | None = None
    ) -> Mailbox:
        smtp = smtp.lower()
        with self.lock:
            if smtp in self.mailboxes:
                raise ValueError(f"mailbox {smtp} exists")
            mbx = Mailbox(smtp, display_name, password, list(logins or []))
            root = self._add_folder(mbx, None, "root", None, "root")
            # Exchange's msgfolderroot carries no FolderClass (Inbox and friends are IPF.Note).
            top = self._add_folder(mbx, root.id, "Top of Information Store", None, "msgfolderroot")
            cal = self._add_folder(mbx, top.id, "Calendar", "IPF.Appointment", "calendar")
            # The organisation default Exchange ships with: everybody sees free/busy times.
            cal.permissions[DEFAULT] = Level.FREE_BUSY_TIME_ONLY
            mbx.root_id, mbx.msgfolderroot_id, mbx.calendar_id = root.id, top.id, cal.id
            # Where DeleteItem MoveToDeletedItems (and Outlook's Delete key) puts items. A mail
            # folder, not a calendar: its items are out of every calendar view and free/busy.
            trash = self._add_folder(mbx, top.id, "Deleted Items", "IPF.Note", "deleteditems")
            mbx.deleteditems_id = trash.id
            self.mailboxes[smtp] = mbx
            return mbx

    def add_calendar(self, smtp: str, name: str, parent_id: str | None = None) -> Folder:
        with self.lock:
            mbx = self.mailbox(smtp)
            return self._add_folder(
                mbx, parent_id or mbx.calendar_id, name, "IPF.Appointment", None
            )

    def _add_folder(
        self,
        mbx: Mailbox,
        parent_id: str | None,
        name: str,
        folder_class: str | None,
        distinguished: str | None,
    ) -> Folder:
        folder = Folder(new_id(b"F"), mbx.smtp, parent_id, name, folder_class, distinguished)
        self.folders[folder.id] = folder
        return folder

    def mailbox(self, smtp: str) -> Mailbox:
        try:
            return self.mailboxes[smtp.lower()]
        except KeyError:
            raise KeyError(f"no mailbox {smtp}") from None

    def find_mailbox(self, name: str) -> Mailbox | None:
        """Look a mailbox up by smtp address, UPN or DOMAIN\\user, case-insensitively."""
        key = name.lower()
        if key in self.mailboxes:
            return self.mailboxes[key]
        for mbx in self.mailboxes.values():
            if key in (login.lower() for login in mbx.logins):
                return mbx
        return None

    def distinguished(self, smtp: str, name: str) -> Folder | None:
        mbx = self.mailboxes.get(smtp.lower())
        if mbx is None:
            return None
        folder_id = {
            "root": mbx.root_id,
            "msgfolderroot": mbx.msgfolderroot_id,
            "calendar": mbx.calendar_id,
            "deleteditems": mbx.deleteditems_id,
        }.get(name)
        return self.folders.get(folder_id) if folder_id else None

    def children(self, folder_id: str) -> list[Folder]:
        return [f for f in self.folders.values() if f.parent_id == folder_id]

    def descendants(self, folder_id: str) -> list[Folder]:
        out: list[Folder] = []
        for child in self.children(folder_id):
            out.append(child)
            out.extend(self.descendants(child.id))
        return out

    def calendars(self, smtp: str) -> list[Folder]:
        mbx = self.mailbox(smtp)
        return [f for f in self.descendants(mbx.root_id) if f.is_calendar]

    def move_to_deleted_items(self, folder: Folder, item: CalendarItem) -> CalendarItem:
        """Move `item` out of `folder` into its mailbox's Deleted Items, as DeleteItem
        MoveToDeletedItems and Outlook's Delete key do. Since Exchange 2010 an EWS ItemId names
        the item in its folder, so the moved item gets a new Id (and ChangeKey) and the old Id
        answers ErrorItemNotFound (MoveItem likewise answers with the new Id)."""
        trash = self.folders[self.mailboxes[folder.mailbox].deleteditems_id]
        del folder.items[item.id]
        item.id, item.folder_id = new_id(b"I"), trash.id
        item.touch()
        trash.items[item.id] = item
        return item

    def find_item(self, item_id: str) -> tuple[Folder, CalendarItem] | None:
        for folder in self.folders.values():
            item = folder.items.get(item_id)
            if item is not None:
                return folder, item
        return None
