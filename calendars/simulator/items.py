"""Calendar items on the wire: instances (occurrences), property shapes, XML out, XML in.

Kept apart from ops_items so the operations read as the EWS semantics they implement
(permissions, paging, meeting mail) while this module owns the schema's element order.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from lxml import etree

from . import timezones
from .model import (
    EXCEPTION_FIELDS,
    Attendee,
    CalendarItem,
    ExtendedProp,
    Folder,
    ModifiedOccurrence,
    extended_key,
    occurrence_id,
)
from .permissions import Rights, effective_rights, may_delete, may_edit
from .soap import EWSError, children, ews_datetime, make, parse_bool, sub, t, xml_bool

SUBJECT_MAX_LENGTH = 255

# Far enough ahead to find any occurrence by index without expanding forever.
_OCCURRENCE_HORIZON = timedelta(days=366 * 30)


@dataclass(frozen=True)
class Instance:
    """One calendar entry as a view returns it: a single item, a master, an occurrence or an
    exception (an occurrence changed on its own)."""

    # Where the entry's properties come from: the item itself, or for an exception a copy of
    # its master with the exception's overrides applied (see exception_item).
    item: CalendarItem
    start: datetime
    end: datetime
    index: int | None = None  # 1-based occurrence index; None for single items and masters
    original_start: datetime | None = None  # occurrences: where the pattern puts them
    is_exception: bool = False
    master: CalendarItem | None = None  # occurrences and exceptions: the series they belong to

    @property
    def id(self) -> str:
        # An exception keeps the id it had as an occurrence, as in Exchange (exchangelib's
        # test_change_occurrence: modified_occurrences[0].id == the occurrence's id).
        return self.item.id if self.index is None else occurrence_id(self.item.id, self.index)

    @property
    def kind(self) -> str:
        if self.is_exception:
            return "Exception"
        if self.index is not None:
            return "Occurrence"
        return "RecurringMaster" if self.item.recurrence is not None else "Single"

    @property
    def recurrence_id(self) -> datetime:
        """RecurrenceId / OriginalStart: the occurrence's place in the pattern."""
        return self.original_start or self.start


def instances_in(
    item: CalendarItem,
    window_start: datetime,
    window_end: datetime,
    *,
    calendar_view: bool = False,
) -> list[Instance]:
    """What a view of the window shows for `item`: the item itself, or its occurrences
    (Exchange expands recurring series in calendar views and never returns the master there).

    Free/busy (the default) counts entries that overlap the window. A CalendarView also lists
    entries that end exactly at its StartDate: Microsoft's CalendarView reference leaves out
    only items whose end is *before* StartDate, and those starting on or after EndDate, and
    exchangelib's `view()` docstring notes the same of live servers.
    """
    if calendar_view:
        if item.recurrence is None:
            shown = item.start < window_end and item.end >= window_start
            return [Instance(item, item.start, item.end)] if shown else []
        # The expansion tests strict overlap: open the window by datetime's smallest step
        # and keep what ends at StartDate or later.
        early = _expand(item, window_start - _TICK, window_end)
        return [inst for inst in early if inst.end >= window_start]
    if item.recurrence is None:
        overlaps = item.start < window_end and item.end > window_start
        zero_length_inside = item.start == item.end and window_start <= item.start < window_end
        return [Instance(item, item.start, item.end)] if overlaps or zero_length_inside else []
    return list(_expand(item, window_start, window_end))


_TICK = timedelta(microseconds=1)


def occurrence(item: CalendarItem, index: int) -> Instance:
    """The occurrence (or exception) with 1-based `index`, or the errors Exchange gives."""
    if item.recurrence is None:
        raise EWSError("ErrorItemNotFound", "The specified object was not found in the store.")
    exc = item.modified_occurrences.get(index)
    if exc is not None:
        return exception_instance(item, exc)
    slot = _pattern_slot(item, index)
    if slot is None:
        raise EWSError(
            "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
            "The occurrence index is out of recurrence range.",
        )
    if local_date(item, slot[0]) in item.deleted_occurrences:
        raise EWSError(
            "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
            "Occurrence with this index was previously deleted from the recurrence.",
        )
    return Instance(item, slot[0], slot[1], index, slot[0], master=item)


def _pattern_slot(item: CalendarItem, index: int) -> tuple[datetime, datetime] | None:
    """Where the pattern puts occurrence `index` (deleted or modified or not)."""
    from . import recurrence

    for occ in recurrence.expand(
        item.start,
        item.end,
        ZoneInfo(item.tz),
        item.recurrence,
        item.start - timedelta(days=1),
        item.start + _OCCURRENCE_HORIZON,
    ):
        if occ.index == index:
            return occ.start, occ.end
        if occ.index > index:
            break
    return None


def _expand(item: CalendarItem, window_start: datetime, window_end: datetime) -> Iterator[Instance]:
    """The series' entries in the window: plain occurrences where the pattern puts them, and
    exceptions where they were moved to. An exception moved out of the window is not in it
    and one moved into the window is, whatever its original date."""
    from . import recurrence  # imported late: it is written alongside this module

    for occ in recurrence.expand(
        item.start,
        item.end,
        ZoneInfo(item.tz),
        item.recurrence,
        window_start,
        window_end,
        frozenset(item.deleted_occurrences),
    ):
        if occ.index not in item.modified_occurrences:
            yield Instance(item, occ.start, occ.end, occ.index, occ.start, master=item)
    for exc in sorted(item.modified_occurrences.values(), key=lambda e: e.index):
        # The same window test as the pattern's occurrences (recurrence._overlaps).
        if recurrence._overlaps(exc.start, exc.end, window_start, window_end):
            yield exception_instance(item, exc)


def exception_item(master: CalendarItem, exc: ModifiedOccurrence) -> CalendarItem:
    """The exception as an item: its master's properties, its own times and overrides."""
    view = dataclasses.replace(
        master,
        start=exc.start,
        end=exc.end,
        recurrence=None,
        deleted_occurrences=set(),
        modified_occurrences={},
        categories=list(master.categories),
        attendees=list(master.attendees),
        extended=dict(master.extended),
        change_key=exc.change_key,
        modified=exc.modified,
    )
    for name, value in exc.overrides.items():
        setattr(view, name, copy.deepcopy(value))
    return view


def exception_instance(master: CalendarItem, exc: ModifiedOccurrence) -> Instance:
    return Instance(
        exception_item(master, exc),
        exc.start,
        exc.end,
        exc.index,
        exc.original_start,
        is_exception=True,
        master=master,
    )


def exception_draft(inst: Instance) -> CalendarItem:
    """A copy of occurrence `inst` to apply UpdateItem's changes to; exception_commit stores
    it once they are all valid. It shows the ChangeKey the occurrence had (its master's)."""
    assert inst.index is not None and inst.master is not None
    if inst.is_exception:
        return inst.item
    draft = exception_item(
        inst.master, ModifiedOccurrence(inst.index, inst.recurrence_id, inst.start, inst.end)
    )
    draft.change_key = inst.item.change_key
    return draft


def exception_commit(inst: Instance, draft: CalendarItem) -> Instance:
    """Make `draft` (from exception_draft) the exception at `inst`'s place. The master
    changes too (new ChangeKey): Exchange keeps exceptions inside their master, so for
    SyncFolderItems the master is what was updated."""
    master, index = inst.master, inst.index
    assert master is not None and index is not None
    if draft.recurrence is not None:
        raise EWSError(
            "ErrorInvalidOperation", "An occurrence of a recurring series can't recur itself."
        )
    if draft.end < draft.start:
        raise EWSError(
            "ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate"
        )
    _check_boundaries(master, index, draft.start)
    overrides = {
        name: copy.deepcopy(getattr(draft, name))
        for name in EXCEPTION_FIELDS
        if getattr(draft, name) != getattr(master, name)
    }
    exc = ModifiedOccurrence(index, inst.recurrence_id, draft.start, draft.end, overrides)
    master.modified_occurrences[index] = exc
    master.touch()
    return exception_instance(master, exc)


def modify_occurrence(
    master: CalendarItem, index: int, change: Callable[[CalendarItem], None]
) -> Instance:
    """Apply `change` to occurrence `index` of `master`, making it an exception."""
    inst = occurrence(master, index)
    draft = exception_draft(inst)
    change(draft)
    return exception_commit(inst, draft)


def delete_occurrence(master: CalendarItem, inst: Instance) -> None:
    """Delete one occurrence or exception: it joins DeletedOccurrences (at its original time)
    and an exception's changes are dropped with it."""
    assert inst.index is not None
    master.modified_occurrences.pop(inst.index, None)
    master.deleted_occurrences.add(local_date(master, inst.recurrence_id))
    master.touch()


def _current_start(master: CalendarItem, index: int) -> datetime | None:
    """Where occurrence `index` is now; None when it is deleted or out of range."""
    try:
        return occurrence(master, index).start
    except EWSError:
        return None


def _check_boundaries(master: CalendarItem, index: int, new_start: datetime) -> None:
    """Exchange (like Outlook, "can't reschedule an occurrence if it skips over a later or
    earlier occurrence") refuses to move an occurrence onto or past the day of the
    occurrence before or after it: ErrorOccurrenceCrossingBoundary."""
    day = local_date(master, new_start)
    reach = len(master.deleted_occurrences) + 1  # deleted neighbours are skipped over
    before = next(
        (
            start
            for i in range(index - 1, max(0, index - 1 - reach), -1)
            if (start := _current_start(master, i)) is not None
        ),
        None,
    )
    after = next(
        (
            start
            for i in range(index + 1, index + 1 + reach)
            if (start := _current_start(master, i)) is not None
        ),
        None,
    )
    if (before is not None and day <= local_date(master, before)) or (
        after is not None and day >= local_date(master, after)
    ):
        raise EWSError(
            "ErrorOccurrenceCrossingBoundary",
            "An occurrence can't be moved onto or past the day of an adjacent occurrence.",
        )


def series_bounds(item: CalendarItem) -> tuple[Instance | None, Instance | None]:
    """FirstOccurrence and LastOccurrence of a master: its first and last entries that are
    not deleted (an exception at its new time). A series without an end has no last one."""
    from . import recurrence

    rec = item.recurrence
    endless = rec.end_date is None and rec.number_of_occurrences is None
    first = last = None
    for occ in recurrence.expand(
        item.start,
        item.end,
        ZoneInfo(item.tz),
        rec,
        item.start - timedelta(days=1),
        item.start + _OCCURRENCE_HORIZON,
        frozenset(item.deleted_occurrences),
    ):
        first = first or occ.index
        last = occ.index
        if endless:
            break
    if first is None or last is None:
        return None, None
    return occurrence(item, first), None if endless else occurrence(item, last)


def local_date(item: CalendarItem, when: datetime) -> date:
    """The wall-clock date of `when` in the item's zone (how deleted occurrences are keyed)."""
    return when.astimezone(ZoneInfo(item.tz)).date()


@dataclass
class Shape:
    """The properties a request asked for (ItemShape: BaseShape + AdditionalProperties)."""

    base: str = "IdOnly"
    fields: set[str] = field(default_factory=set)
    extended: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, elem: etree._Element | None) -> Shape:
        if elem is None:
            return cls(base="Default")
        shape = cls(base=elem.findtext(t("BaseShape"), "IdOnly"))
        for prop in children(elem, t("AdditionalProperties")):
            name = etree.QName(prop).localname
            if name == "FieldURI":
                shape.fields.add(prop.get("FieldURI", ""))
            elif name == "ExtendedFieldURI":
                shape.extended.append(dict(prop.attrib))
        return shape

    def wants(self, uri: str) -> bool:
        # Asked for every property of every item of a view: one set lookup, the set made once.
        wanted = self.__dict__.get("_wanted")
        if wanted is None:
            wanted = self.__dict__["_wanted"] = frozenset(
                self.fields | (_DEFAULT_FIELDS if self.base != "IdOnly" else set())
            )
        return uri in wanted


# What Default/AllProperties return for a calendar item (never extended properties).
_DEFAULT_FIELDS = {
    "item:ParentFolderId",
    "item:ItemClass",
    "item:Subject",
    "item:Sensitivity",
    "item:Body",
    "item:Categories",
    "item:Importance",
    "item:DateTimeCreated",
    "item:ReminderIsSet",
    "item:ReminderMinutesBeforeStart",
    "item:HasAttachments",
    "item:LastModifiedTime",
    "calendar:UID",
    "calendar:Start",
    "calendar:End",
    "calendar:IsAllDayEvent",
    "calendar:LegacyFreeBusyStatus",
    "calendar:Location",
    "calendar:IsMeeting",
    "calendar:IsCancelled",
    "calendar:IsRecurring",
    "calendar:MeetingRequestWasSent",
    "calendar:CalendarItemType",
    "calendar:MyResponseType",
    "calendar:Organizer",
    "calendar:RequiredAttendees",
    "calendar:OptionalAttendees",
    "calendar:Duration",
    "calendar:AppointmentState",
    "calendar:Recurrence",
    "calendar:FirstOccurrence",
    "calendar:LastOccurrence",
    "calendar:ModifiedOccurrences",
    "calendar:DeletedOccurrences",
    "calendar:StartTimeZone",
    "calendar:EndTimeZone",
}


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"P{days}DT{hours}H{minutes}M{secs}S"


def _mailbox(parent: etree._Element, tag: str, smtp: str, name: str) -> etree._Element:
    box = sub(parent, tag)
    sub(box, t("Name"), name or smtp)
    sub(box, t("EmailAddress"), smtp)
    sub(box, t("RoutingType"), "SMTP")
    sub(box, t("MailboxType"), "Mailbox")
    return box


def item_xml(
    inst: Instance, folder: Folder, shape: Shape, rights: Rights, caller: str
) -> etree._Element:
    """A t:CalendarItem with the requested properties, in CalendarItemType's element order."""
    item, want = inst.item, shape.wants
    elem = make(t("CalendarItem"))
    sub(elem, t("ItemId"), Id=inst.id, ChangeKey=item.change_key)
    if want("item:ParentFolderId"):
        sub(elem, t("ParentFolderId"), Id=folder.id, ChangeKey=folder.change_key)
    if want("item:ItemClass"):
        sub(elem, t("ItemClass"), "IPM.Appointment")
    if want("item:Subject"):
        sub(elem, t("Subject"), item.subject)
    if want("item:Sensitivity"):
        sub(elem, t("Sensitivity"), item.sensitivity)
    if want("item:Body"):
        sub(elem, t("Body"), item.body, BodyType=item.body_type)
    if want("item:Size"):
        sub(elem, t("Size"), str(len(item.body.encode()) + len(item.subject.encode()) + 512))
    if want("item:Categories"):
        cats = sub(elem, t("Categories"))
        for cat in item.categories:
            sub(cats, t("String"), cat)
    if want("item:Importance"):
        sub(elem, t("Importance"), item.importance)
    if want("item:DateTimeCreated"):
        sub(elem, t("DateTimeCreated"), ews_datetime(item.created))
    if want("item:ReminderIsSet"):
        sub(elem, t("ReminderIsSet"), xml_bool(item.reminder_is_set))
    if want("item:ReminderMinutesBeforeStart"):
        sub(elem, t("ReminderMinutesBeforeStart"), str(item.reminder_minutes))
    if want("item:HasAttachments"):
        sub(elem, t("HasAttachments"), "false")
    for attrs in shape.extended:
        prop = item.extended.get(extended_key(attrs))
        if prop is not None:
            _extended_xml(elem, prop)
    if want("item:EffectiveRights"):
        _item_rights_xml(elem, rights, caller, item)
    if want("item:LastModifiedName"):
        sub(elem, t("LastModifiedName"), item.organizer[1] or item.organizer[0])
    if want("item:LastModifiedTime"):
        sub(elem, t("LastModifiedTime"), ews_datetime(item.modified))
    _calendar_fields_xml(elem, inst, want)
    return elem


def _calendar_fields_xml(
    elem: etree._Element, inst: Instance, wants: Callable[[str], bool]
) -> None:
    item = inst.item
    if wants("calendar:UID"):
        sub(elem, t("UID"), item.uid)
    if inst.index is not None and wants("calendar:RecurrenceId"):
        sub(elem, t("RecurrenceId"), ews_datetime(inst.recurrence_id))
    if wants("calendar:Start"):
        sub(elem, t("Start"), ews_datetime(inst.start))
    if wants("calendar:End"):
        sub(elem, t("End"), ews_datetime(inst.end))
    if inst.index is not None and wants("calendar:OriginalStart"):
        sub(elem, t("OriginalStart"), ews_datetime(inst.recurrence_id))
    # Values made only for the properties asked for (a view asks a few, for every item).
    simple: tuple[tuple[str, str, Callable[[], str]], ...] = (
        ("calendar:IsAllDayEvent", "IsAllDayEvent", lambda: xml_bool(item.is_all_day)),
        ("calendar:LegacyFreeBusyStatus", "LegacyFreeBusyStatus", lambda: item.status),
        ("calendar:Location", "Location", lambda: item.location),
        ("calendar:IsMeeting", "IsMeeting", lambda: xml_bool(item.is_meeting)),
        ("calendar:IsCancelled", "IsCancelled", lambda: "false"),
        # True on occurrences and exceptions, false on masters (and single items), as
        # Exchange answers (exchangelib's test_recurring_item asserts both).
        ("calendar:IsRecurring", "IsRecurring", lambda: xml_bool(inst.index is not None)),
        (
            "calendar:MeetingRequestWasSent",
            "MeetingRequestWasSent",
            lambda: xml_bool(item.meeting_request_was_sent),
        ),
        ("calendar:CalendarItemType", "CalendarItemType", lambda: inst.kind),
        ("calendar:MyResponseType", "MyResponseType", lambda: "Organizer"),
    )
    for uri, tag, value in simple:
        if wants(uri):
            sub(elem, t(tag), value())
    if wants("calendar:Organizer") and item.organizer[0]:
        _mailbox(sub(elem, t("Organizer")), t("Mailbox"), *item.organizer)
    for uri, tag, kind in (
        ("calendar:RequiredAttendees", "RequiredAttendees", "Required"),
        ("calendar:OptionalAttendees", "OptionalAttendees", "Optional"),
        ("calendar:Resources", "Resources", "Resource"),
    ):
        chosen = [a for a in item.attendees if a.kind == kind]
        if chosen and wants(uri):
            container = sub(elem, t(tag))
            for attendee in chosen:
                att = sub(container, t("Attendee"))
                _mailbox(att, t("Mailbox"), attendee.email, attendee.name)
                sub(att, t("ResponseType"), "Unknown")
    if wants("calendar:Duration"):
        sub(elem, t("Duration"), _duration(inst.end - inst.start))
    if wants("calendar:AppointmentState"):
        sub(elem, t("AppointmentState"), "1" if item.is_meeting else "0")
    # Exchange only returns the pattern on the master, never on occurrences.
    if inst.index is None and item.recurrence is not None and wants("calendar:Recurrence"):
        from . import recurrence

        elem.append(recurrence.recurrence_to_xml(item.recurrence))
    if inst.index is None and item.recurrence is not None:
        _series_xml(elem, item, wants)
    if inst.index is None and item.deleted_occurrences and wants("calendar:DeletedOccurrences"):
        deleted = sub(elem, t("DeletedOccurrences"))
        for day in sorted(item.deleted_occurrences):
            local = datetime.combine(day, item.start.astimezone(ZoneInfo(item.tz)).time())
            start = local.replace(tzinfo=ZoneInfo(item.tz))
            sub(sub(deleted, t("DeletedOccurrence")), t("Start"), ews_datetime(start))
    ms_id = timezones.ms_id_from_tz(item.tz)
    for uri, tag in (
        ("calendar:StartTimeZone", "StartTimeZone"),
        ("calendar:EndTimeZone", "EndTimeZone"),
    ):
        if wants(uri):
            sub(elem, t(tag), Id=ms_id, Name=timezones.display_name(ms_id))


def _series_xml(elem: etree._Element, item: CalendarItem, wants: Callable[[str], bool]) -> None:
    """A master's FirstOccurrence, LastOccurrence and ModifiedOccurrences (OccurrenceInfoType:
    ItemId, Start, End, OriginalStart), in the schema's order, before DeletedOccurrences."""

    def info(tag: str, inst: Instance) -> etree._Element:
        occ = make(t(tag))
        sub(occ, t("ItemId"), Id=inst.id, ChangeKey=inst.item.change_key)
        sub(occ, t("Start"), ews_datetime(inst.start))
        sub(occ, t("End"), ews_datetime(inst.end))
        sub(occ, t("OriginalStart"), ews_datetime(inst.recurrence_id))
        return occ

    if wants("calendar:FirstOccurrence") or wants("calendar:LastOccurrence"):
        first, last = series_bounds(item)
        if first is not None and wants("calendar:FirstOccurrence"):
            elem.append(info("FirstOccurrence", first))
        if last is not None and wants("calendar:LastOccurrence"):
            elem.append(info("LastOccurrence", last))
    if item.modified_occurrences and wants("calendar:ModifiedOccurrences"):
        modified = sub(elem, t("ModifiedOccurrences"))
        for index in sorted(item.modified_occurrences):
            exc = item.modified_occurrences[index]
            modified.append(info("Occurrence", exception_instance(item, exc)))


def _extended_xml(parent: etree._Element, prop: ExtendedProp) -> None:
    elem = sub(parent, t("ExtendedProperty"))
    sub(elem, t("ExtendedFieldURI"), **prop.attrs)
    if prop.is_array:
        values = sub(elem, t("Values"))
        for value in prop.values:
            sub(values, t("Value"), value)
    else:
        sub(elem, t("Value"), prop.values[0] if prop.values else "")


def _item_rights_xml(
    parent: etree._Element, rights: Rights, caller: str, item: CalendarItem
) -> None:
    eff = effective_rights(rights)
    elem = sub(parent, t("EffectiveRights"))
    for name, value in (
        ("CreateAssociated", False),
        ("CreateContents", False),
        ("CreateHierarchy", False),
        ("Delete", may_delete(rights, caller, item.creator)),
        ("Modify", may_edit(rights, caller, item.creator)),
        ("Read", eff.read),
        ("ViewPrivateItems", eff.view_private_items),
    ):
        sub(elem, t(name), xml_bool(value))


# ------------------------------------------------------------------------------------------
# Requests -> items
# ------------------------------------------------------------------------------------------


def parse_extended(elem: etree._Element) -> ExtendedProp:
    uri = elem.find(t("ExtendedFieldURI"))
    if uri is None:
        raise EWSError("ErrorInvalidExtendedProperty", "ExtendedProperty without ExtendedFieldURI.")
    values_elem = elem.find(t("Values"))
    if values_elem is not None:
        return ExtendedProp(dict(uri.attrib), [v.text or "" for v in values_elem], is_array=True)
    return ExtendedProp(dict(uri.attrib), [elem.findtext(t("Value"), "")])


def _attendees(elem: etree._Element, kind: str) -> list[Attendee]:
    out = []
    for att in elem.findall(t("Attendee")):
        box = att.find(t("Mailbox"))
        if box is not None and box.findtext(t("EmailAddress")):
            out.append(
                Attendee(
                    box.findtext(t("EmailAddress"), "").lower(), box.findtext(t("Name"), ""), kind
                )
            )
    return out


def apply_item_xml(
    item: CalendarItem, elem: etree._Element, context_tz: tzinfo, *, snap: bool = True
) -> None:
    """Copy the properties present in a request's t:CalendarItem onto `item`.

    Used by CreateItem and by UpdateItem's SetItemField (whose t:CalendarItem holds one
    property). Naive times are local to StartTimeZone when given, else the TimeZoneContext.
    """
    tz_elem = elem.find(t("StartTimeZone"))
    if tz_elem is None:
        tz_elem = elem.find(t("MeetingTimeZone"))
    if tz_elem is not None and (tz_elem.get("Id") or tz_elem.get("Name")):
        try:
            item.tz = timezones.tz_from_ms_id(tz_elem.get("Id") or tz_elem.get("Name", "")).key
        except timezones.UnknownTimeZoneError as exc:
            raise EWSError("ErrorTimeZone", str(exc)) from exc
    elif elem.find(t("Start")) is not None and item.tz == "UTC":
        item.tz = getattr(context_tz, "key", "UTC")
    local_tz: tzinfo = ZoneInfo(item.tz) if tz_elem is not None else context_tz
    for child in elem:
        if not isinstance(child.tag, str):
            continue
        name, text = etree.QName(child).localname, child.text or ""
        if name == "Subject":
            # "The subject is limited to 255 characters" (Subject element reference); Exchange
            # stores the first 255 and answers NoError (exchangelib's maintainer, in
            # nylas/exchangelib#68). exchangelib itself refuses longer subjects before sending.
            item.subject = text[:SUBJECT_MAX_LENGTH]
        elif name == "Body":
            item.body, item.body_type = text, child.get("BodyType", "Text")
        elif name == "Sensitivity":
            item.sensitivity = text
        elif name == "Importance":
            item.importance = text
        elif name == "Categories":
            item.categories = [s.text or "" for s in child]
        elif name == "ReminderIsSet":
            item.reminder_is_set = parse_bool(text)
        elif name == "ReminderMinutesBeforeStart":
            item.reminder_minutes = int(text or 0)
        elif name == "ExtendedProperty":
            prop = parse_extended(child)
            item.extended[extended_key(prop.attrs)] = prop
        elif name == "UID":
            item.uid = text
        elif name in ("Start", "End"):
            try:
                value = timezones.parse_ews_datetime(text, local_tz)
            except ValueError as exc:
                raise EWSError("ErrorInvalidValueForProperty", str(exc)) from exc
            setattr(item, name.lower(), value)
        elif name == "IsAllDayEvent":
            item.is_all_day = parse_bool(text)
        elif name == "LegacyFreeBusyStatus":
            item.status = text
        elif name == "Location":
            item.location = text
        elif name in ("RequiredAttendees", "OptionalAttendees", "Resources"):
            kind = {"RequiredAttendees": "Required", "OptionalAttendees": "Optional"}.get(
                name, "Resource"
            )
            item.attendees = [a for a in item.attendees if a.kind != kind] + _attendees(child, kind)
        elif name == "Recurrence":
            from . import recurrence

            try:
                pattern = recurrence.parse_recurrence(child)
            except ValueError as exc:
                raise EWSError("ErrorCalendarInvalidRecurrence", str(exc)) from exc
            if pattern != item.recurrence:
                _drop_exceptions(item)
            item.recurrence = pattern
    if snap and item.is_all_day:
        snap_all_day(item)


def snap_all_day(item: CalendarItem) -> None:
    """Exchange moves all-day start/end to local midnights (start down, end up)."""
    zone = ZoneInfo(item.tz)
    start_local = item.start.astimezone(zone)
    end_local = item.end.astimezone(zone)
    start_day = start_local.date()
    end_day = (
        end_local.date()
        if end_local.time() == datetime.min.time()
        else end_local.date() + timedelta(days=1)
    )
    if end_day <= start_day:
        end_day = start_day + timedelta(days=1)
    item.start = datetime.combine(start_day, datetime.min.time(), zone).astimezone(UTC)
    item.end = datetime.combine(end_day, datetime.min.time(), zone).astimezone(UTC)


def _drop_exceptions(item: CalendarItem) -> None:
    """A new pattern (or none) loses the series' modified and deleted occurrences, as in
    Outlook ("any exceptions associated with this recurring appointment will be lost"); the
    same pattern sent again (exchangelib's full save) keeps them."""
    item.modified_occurrences.clear()
    item.deleted_occurrences.clear()


# FieldURI -> how DeleteItemField clears it.
def clear_field(item: CalendarItem, uri: str) -> None:
    defaults: dict[str, tuple[str, object]] = {
        "item:Subject": ("subject", ""),
        "item:Body": ("body", ""),
        "calendar:Location": ("location", ""),
        "item:Categories": ("categories", []),
        "calendar:Recurrence": ("recurrence", None),
        "calendar:LegacyFreeBusyStatus": ("status", "Busy"),
        "item:ReminderIsSet": ("reminder_is_set", False),
    }
    if uri == "calendar:Recurrence":
        _drop_exceptions(item)
    if uri in defaults:
        attr, value = defaults[uri]
        setattr(item, attr, value)
    elif uri in ("calendar:RequiredAttendees", "calendar:OptionalAttendees", "calendar:Resources"):
        kind = {
            "calendar:RequiredAttendees": "Required",
            "calendar:OptionalAttendees": "Optional",
        }.get(uri, "Resource")
        item.attendees = [a for a in item.attendees if a.kind != kind]
    elif uri in ("calendar:Start", "calendar:End"):
        raise EWSError("ErrorCannotDeleteObject", f"{uri} cannot be deleted.")
