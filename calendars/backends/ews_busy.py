"""Busy time read straight from the EWS answer: exchangelib sends the request, we read the
three values we need from the XML.

Why: exchangelib turns every answer into its object model (a FreeBusyView with CalendarEvent
objects, or CalendarItem objects with every field descriptor walked and each time parsed
through strptime), which cost ~20 ms of CPU per free/busy answer for five people over a week
and more for CalendarView: more than the app's whole slot computation. exchangelib still does
everything that matters on the wire (authentication, the session pool, the SOAP envelope,
response codes and errors, throttling); only the per-element conversion is replaced, through
the `_elem_to_obj` hook its services provide for exactly that.

Only start, end and free/busy status are read: a subject can't leak from here because it is
never parsed (free/busy doesn't send one in the FreeBusy view; CalendarView isn't asked for it).
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exchangelib import CalendarItem, EWSTimeZone
from exchangelib.errors import UnknownTimeZone
from exchangelib.fields import FieldPath
from exchangelib.folders import SHALLOW
from exchangelib.items import ID_ONLY
from exchangelib.properties import CalendarView, MailboxData
from exchangelib.services import FindItem, GetUserAvailability
from exchangelib.services.common import folder_ids_element, shape_element
from exchangelib.util import TNS, create_element, set_xml_value
from lxml import etree

from calendars.backends.base import BusyInterval

_EVENT = f"{{{TNS}}}CalendarEvent"
_EVENTS = f"{{{TNS}}}CalendarEventArray"
_START_TIME = f"{{{TNS}}}StartTime"
_END_TIME = f"{{{TNS}}}EndTime"
_BUSY_TYPE = f"{{{TNS}}}BusyType"
_START = f"{{{TNS}}}Start"
_END = f"{{{TNS}}}End"
_STATUS = f"{{{TNS}}}LegacyFreeBusyStatus"
_ALL_DAY = f"{{{TNS}}}IsAllDayEvent"
_START_ZONE = f"{{{TNS}}}StartTimeZone"
_END_ZONE = f"{{{TNS}}}EndTimeZone"

# What CalendarView is asked for: when, how busy, and the zones all-day events are dated in.
_FIELDS = (
    "start",
    "end",
    "legacy_free_busy_status",
    "is_all_day",
    "_start_timezone",
    "_end_timezone",
)


@functools.cache
def _field_paths() -> list[FieldPath]:
    return [FieldPath(field=CalendarItem.get_field_by_fieldname(name)) for name in _FIELDS]


@functools.lru_cache(maxsize=16384)
def utc(text: str) -> datetime:
    """An EWS xs:dateTime as an aware UTC datetime. Free/busy answers carry no offset (they
    are in the zone the request named, which is UTC); item times end in Z. Kept: the same
    events' times come back in every answer about the same people."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class FreeBusyTimes(GetUserAvailability):
    """GetUserAvailability answering, per mailbox, a list of BusyInterval (or the exception
    Exchange gave for that mailbox, as exchangelib does)."""

    def get_payload(self, mailbox_data: Any, timezone: Any, free_busy_view_options: Any) -> Any:
        # The request exchangelib builds, element for element, without walking its field
        # descriptors for the parts that never change: the time zone (the same constant on
        # every call) and the shape of a MailboxData (only the address differs). Each is
        # serialized by exchangelib once and copied after; that was most of the ~1 ms of CPU
        # spent building a free/busy request for five people, before it could be sent.
        payload = create_element(f"m:{self.SERVICE_NAME}Request")
        with _templates_lock:  # lxml trees are not for several threads at once
            payload.append(copy.deepcopy(_serialized(timezone, self.protocol.version)))
        array = create_element("m:MailboxDataArray")
        for data in mailbox_data:
            template = _mailbox_template(data.attendee_type, data.exclude_conflicts)
            if template is None:  # a shape we didn't prepare: exchangelib's own way
                set_xml_value(array, [data], version=self.protocol.version)
                continue
            elem = copy.deepcopy(template)
            email = data.email
            elem.find(_ADDRESS_PATH).text = getattr(email, "email_address", email)
            array.append(elem)
        payload.append(array)
        return set_xml_value(payload, free_busy_view_options, version=self.protocol.version)

    def _elem_to_obj(self, elem: Any) -> list[BusyInterval]:
        events = elem.find(_EVENTS)
        if events is None:  # nobody busy in the window: Exchange leaves the array out
            return []
        # The three values of every event in three XPath passes done by libxml2, not one
        # Python element proxy per child: a twenty-person team is hundreds of events, and
        # reading them one by one was most of the CPU between Exchange's answer and the
        # slots. The schema requires all three in every CalendarEvent; should counts differ
        # anyway, the events are read one by one below.
        starts, ends, kinds = _START_TIMES(events), _END_TIMES(events), _BUSY_TYPES(events)
        if len(starts) == len(ends) == len(kinds) == len(events):
            return [
                BusyInterval(start=utc(s), end=utc(e), status=k.strip() or "Busy")
                for s, e, k in zip(starts, ends, kinds, strict=True)
            ]
        found = []
        for event in events.iterfind(_EVENT):
            # One pass over the event's few children (a week for five people is hundreds of
            # events): StartTime, EndTime, BusyType and, in detailed views, details.
            values = {child.tag: child.text for child in event}
            start, end = values.get(_START_TIME), values.get(_END_TIME)
            if not start or not end:
                continue
            found.append(
                BusyInterval(
                    start=utc(start),
                    end=utc(end),
                    status=(values.get(_BUSY_TYPE) or "Busy").strip(),
                )
            )
        return found


_ADDRESS_PATH = f"{{{TNS}}}Email/{{{TNS}}}Address"
_START_TIMES = etree.XPath("t:CalendarEvent/t:StartTime/text()", namespaces={"t": TNS})
_END_TIMES = etree.XPath("t:CalendarEvent/t:EndTime/text()", namespaces={"t": TNS})
_BUSY_TYPES = etree.XPath("t:CalendarEvent/t:BusyType/text()", namespaces={"t": TNS})
_serialized_zones: dict[int, tuple[Any, Any]] = {}
_templates_lock = threading.Lock()


def _serialized(timezone: Any, version: Any) -> Any:
    """`timezone` as exchangelib serializes it (a t:TimeZone element), made once per zone."""
    kept = _serialized_zones.get(id(timezone))
    if kept is None or kept[0] is not timezone:
        holder = set_xml_value(create_element("m:Holder"), timezone, version=version)
        kept = _serialized_zones[id(timezone)] = (timezone, holder[0])
    return kept[1]


_item_shapes: dict[tuple[Any, ...], tuple[Any, Any]] = {}


def _item_shape(shape: str, additional_fields: Any, version: Any) -> Any:
    """The m:ItemShape exchangelib writes for `shape` and `additional_fields` (the one list
    _field_paths keeps), made once per server version. Call under _templates_lock."""
    key = (shape, id(additional_fields), getattr(version, "build", None), str(version))
    kept = _item_shapes.get(key)
    if kept is None or kept[0] is not additional_fields:
        elem = shape_element(
            tag="m:ItemShape", shape=shape, additional_fields=additional_fields, version=version
        )
        kept = _item_shapes[key] = (additional_fields, elem)
    return kept[1]


@functools.cache
def _mailbox_template(attendee_type: str, exclude_conflicts: bool | None) -> Any:
    """A t:MailboxData as exchangelib writes it, for a placeholder address."""
    if exclude_conflicts is not None:
        return None
    data = MailboxData(email="placeholder@example.invalid", attendee_type=attendee_type)
    return set_xml_value(create_element("m:Holder"), [data], version=None)[0]


class CalendarViewTimes(FindItem):
    """FindItem over a CalendarView (recurring events expanded by Exchange) answering one
    BusyInterval per item."""

    def busy(self, folder: Any, start: datetime, end: datetime) -> Iterator[BusyInterval]:
        fields = _field_paths()
        # What FolderCollection.view(start, end).only(*_FIELDS) sends, minus the object model.
        for found in self.call(
            folders=[folder],
            additional_fields=fields,
            restriction=None,
            order_fields=None,
            shape=ID_ONLY,
            query_string=None,
            depth=SHALLOW,
            calendar_view=CalendarView(start=start, end=end),
            max_items=None,
            offset=0,
        ):
            if isinstance(found, Exception):
                raise found
            if found is not None:
                yield found

    def get_payload(
        self,
        folders: Any,
        additional_fields: Any,
        restriction: Any,
        order_fields: Any,
        query_string: Any,
        shape: Any,
        depth: Any,
        calendar_view: Any,
        page_size: Any,
        offset: int = 0,
    ) -> Any:
        # The request FindItem.get_payload builds, element for element, with the ItemShape
        # (the same five field URIs on every call, two thirds of the request's CPU) serialized
        # by exchangelib once per server version and copied after, as FreeBusyTimes does with
        # its time zone. Anything but a plain CalendarView goes exchangelib's own way.
        if restriction or order_fields or query_string or calendar_view is None:
            return super().get_payload(
                folders,
                additional_fields,
                restriction,
                order_fields,
                query_string,
                shape,
                depth,
                calendar_view,
                page_size,
                offset,
            )
        version = self.account.version
        payload = create_element(f"m:{self.SERVICE_NAME}", attrs={"Traversal": depth})
        with _templates_lock:  # lxml trees are not for several threads at once
            payload.append(copy.deepcopy(_item_shape(shape, additional_fields, version)))
        payload.append(calendar_view.to_xml(version=version))
        payload.append(
            folder_ids_element(
                folders=folders, version=self.protocol.version, tag="m:ParentFolderIds"
            )
        )
        return payload

    def _elem_to_obj(self, elem: Any) -> BusyInterval | None:
        start, end = elem.findtext(_START), elem.findtext(_END)
        if not start or not end:
            return None
        status = (elem.findtext(_STATUS) or "Busy").strip()
        if (elem.findtext(_ALL_DAY) or "").strip().lower() != "true":
            return BusyInterval(start=utc(start), end=utc(end), status=status)
        # An all-day event blocks whole days in the event's own time zone. Exchange sends
        # the instants of its first and last midnights; take the dates there and block from
        # the first midnight to the midnight after the last day. Each edge is dated from its
        # own instant, never the end as "end minus 24 hours": on a spring-forward day the
        # last day is 23 hours long (23.5 on Lord Howe) and that lands on the day before
        # (exchangelib's CalendarItem.from_xml makes exactly that mistake).
        first_zone, last_zone = _zone(elem.find(_START_ZONE)), _zone(elem.find(_END_ZONE))
        return BusyInterval(
            start=_midnight(nearest_midnight(utc(start), first_zone), first_zone),
            end=_midnight(nearest_midnight(utc(end), last_zone), last_zone),
            status=status,
        )


def nearest_midnight(instant: datetime, zone: ZoneInfo) -> date:
    """The day whose midnight in `zone` is nearest to `instant`. An all-day edge is a local
    midnight; some Exchange versions report it at the midnight of the request's zone (UTC)
    instead, hours off the item's own, and rounding to the nearest midnight dates both
    right (for zones within 12 hours of UTC, which is all but a few Pacific islands)."""
    local = instant.astimezone(zone).replace(tzinfo=None)
    return (local + timedelta(hours=12)).date()


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant `day` begins in `zone`. A midnight skipped by DST (some zones move
    their clocks at 00:00) reads with the offset before the change, which is the instant
    the day's first existing minute begins."""
    return datetime.combine(day, wall(0), tzinfo=zone).astimezone(UTC)


def _zone(elem: Any) -> ZoneInfo:
    """The IANA zone for a StartTimeZone/EndTimeZone element (Windows ids, as Exchange sends
    them); UTC when it is missing or unknown."""
    ms_id = None if elem is None else (elem.get("Id") or elem.get("Name"))
    if not ms_id:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(EWSTimeZone.from_ms_id(ms_id).key)
    except (UnknownTimeZone, ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
