"""Calendar items in EWS XML: property shapes, items out, items in.

The store's items (`..items`, `..model`) know nothing of XML; this module owns the schema's
element order for the EWS face, so the operations read as the EWS semantics they implement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from lxml import etree

from .. import timezones
from ..items import (
    SUBJECT_MAX_LENGTH,
    Instance,
    _drop_exceptions,
    exception_instance,
    series_bounds,
    snap_all_day,
)
from ..model import Attendee, CalendarItem, ExtendedProp, Folder, extended_key
from ..permissions import Rights, effective_rights, may_delete, may_edit
from .soap import EWSError, children, ews_datetime, make, parse_bool, sub, t, xml_bool


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
        from .. import recurrence

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
            from .. import recurrence

            try:
                pattern = recurrence.parse_recurrence(child)
            except ValueError as exc:
                raise EWSError("ErrorCalendarInvalidRecurrence", str(exc)) from exc
            if pattern != item.recurrence:
                _drop_exceptions(item)
            item.recurrence = pattern
    if snap and item.is_all_day:
        snap_all_day(item)


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
