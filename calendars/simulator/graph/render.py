"""Graph JSON in and out: dateTimeTimeZone, ids, events, users.

What the Graph v1.0 reference says, as looked up (microsoftgraph/microsoft-graph-docs-contrib,
api-reference/v1.0/resources/event.md, datetimetimezone.md, scheduleinformation.md):

- `dateTimeTimeZone` is {"dateTime": "2027-03-28T09:00:00.0000000", "timeZone": "UTC"}; the
  zone is a Windows name or an IANA name. Answers are in UTC unless the request says
  `Prefer: outlook.timezone="..."`, and then carry that name back in `timeZone`.
- `showAs`: free, tentative, busy, oof, workingElsewhere, unknown; `sensitivity`: normal,
  personal, private, confidential; `type`: singleInstance, occurrence, exception,
  seriesMaster (occurrences and exceptions carry `seriesMasterId`).
- `transactionId` is "only returned in a response payload if an app has set it".
- `$select` narrows the answer; `id` and `@odata.etag` always come back.

Graph's ids are URL-safe (Exchange Online ids over REST use "-" and "_" where EWS ids have
"+" and "/"), so a Graph id here is the store's id with those two characters swapped: the
same item answers to both protocols and an id is always one path segment.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from .. import timezones
from ..items import Instance
from ..model import CalendarItem, ExtendedProp, Mailbox, occurrence_id
from .routes import GraphError, Request

SHOW_AS = {
    "Free": "free",
    "Tentative": "tentative",
    "Busy": "busy",
    "OOF": "oof",
    "WorkingElsewhere": "workingElsewhere",
    "NoData": "unknown",
}
STATUS_FROM_SHOW_AS = {value.lower(): key for key, value in SHOW_AS.items()}
SENSITIVITY = {"Normal": "normal", "Personal": "personal", "Private": "private"}
SENSITIVITY["Confidential"] = "confidential"
SENSITIVITY_FROM_GRAPH = {value: key for key, value in SENSITIVITY.items()}
# PS_PUBLIC_STRINGS: the GUID behind EWS's DistinguishedPropertySetId="PublicStrings", so a
# property Graph names "String {00020329-...} Name X" is the one exchangelib names by set.
PUBLIC_STRINGS = "00020329-0000-0000-c000-000000000046"

_EXTENDED_ID = re.compile(r"^\s*(\w+)\s+\{([0-9a-fA-F-]{36})\}\s+Name\s+(.+?)\s*$")


def graph_id(store_id: str) -> str:
    return store_id.replace("+", "-").replace("/", "_")


def store_id(value: str) -> str:
    return value.replace("-", "+").replace("_", "/")


# ------------------------------------------------------------------------ times and zones


def zone(name: str) -> tzinfo:
    """A Windows or IANA zone name -> tzinfo, or Graph's 400 for an unknown one."""
    if name.upper() in ("UTC", "GMT", "Z"):
        return UTC
    try:
        return timezones.tz_from_ms_id(name)
    except timezones.UnknownTimeZoneError:
        pass
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            "A valid TimeZone value must be specified. The following TimeZone value is not "
            f"supported: '{name}'.",
        ) from None


def iana_name(tz: tzinfo) -> str:
    return getattr(tz, "key", "UTC")


def output_zone(request: Request) -> tuple[tzinfo, str]:
    """The zone answers are written in: `Prefer: outlook.timezone`, else UTC."""
    name = request.prefers("outlook.timezone")
    if not name:
        return UTC, "UTC"
    return zone(name), name


def format_datetime(when: datetime, tz: tzinfo) -> str:
    local = when.astimezone(tz).replace(tzinfo=None)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f".{local.microsecond * 10:07d}"


def date_time_time_zone(when: datetime, request: Request) -> dict[str, str]:
    tz, name = output_zone(request)
    return {"dateTime": format_datetime(when, tz), "timeZone": name}


def parse_date_time_time_zone(value: Any, field: str) -> tuple[datetime, tzinfo]:
    """A dateTimeTimeZone from a request body -> (aware UTC datetime, its zone)."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        raise GraphError(400, "ErrorInvalidRequest", f"The {field} property is required.")
    tz = zone(str(value.get("timeZone") or "UTC"))
    return parse_instant(str(value["dateTime"]), tz, field), tz


def parse_instant(text: str, default_tz: tzinfo, field: str) -> datetime:
    """ISO 8601 with or without an offset (naive values are in `default_tz`); Graph's 7
    fractional digits are cut to Python's 6."""
    cleaned = text.strip().replace("Z", "+00:00")
    cleaned = re.sub(r"(\.\d{6})\d+", r"\1", cleaned)
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise GraphError(
            400, "ErrorInvalidParameter", f"The value '{text}' of parameter '{field}' is invalid."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_tz)
    return parsed.astimezone(UTC)


def utc_stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{when.microsecond:06d}0Z"


# ------------------------------------------------------------------------ users


def user_json(mbx: Mailbox) -> dict[str, Any]:
    upn = next((login for login in mbx.logins if "@" in login), mbx.smtp)
    return {
        "id": mbx.object_id,
        "displayName": mbx.display_name,
        "mail": mbx.smtp,
        "userPrincipalName": upn,
    }


def email_address(address: str, name: str = "") -> dict[str, Any]:
    return {"emailAddress": {"name": name or address, "address": address}}


# ------------------------------------------------------------------------ extended properties


def extended_attrs(property_id: str) -> dict[str, str]:
    """ "String {guid} Name X" -> the ExtendedFieldURI attributes EWS uses for it."""
    found = _EXTENDED_ID.match(property_id)
    if found is None:
        raise GraphError(400, "ErrorInvalidProperty", f"The property '{property_id}' is not valid.")
    kind, guid, name = found.groups()
    if guid.lower() == PUBLIC_STRINGS:
        return {
            "DistinguishedPropertySetId": "PublicStrings",
            "PropertyName": name,
            "PropertyType": kind,
        }
    return {"PropertySetId": guid, "PropertyName": name, "PropertyType": kind}


def extended_id(prop: ExtendedProp) -> str:
    attrs = prop.attrs
    guid = attrs.get("PropertySetId") or (
        PUBLIC_STRINGS.upper()
        if attrs.get("DistinguishedPropertySetId", "").lower() == "publicstrings"
        else attrs.get("DistinguishedPropertySetId", "")
    )
    kind = attrs.get("PropertyType", "String")
    if attrs.get("PropertyName"):
        return f"{kind} {{{guid}}} Name {attrs['PropertyName']}"
    return f"{kind} {{{guid}}} Id {attrs.get('PropertyId') or attrs.get('PropertyTag', '')}"


# ------------------------------------------------------------------------ events


def event_id(inst: Instance, immutable: bool) -> str:
    """The instance's Graph id: the item's (or with IdType="ImmutableId" its immutable) id;
    occurrences encode their master and index as EWS occurrence ids do."""
    base = inst.item if inst.master is None else inst.master
    raw = base.immutable_id if immutable else base.id
    return graph_id(raw if inst.index is None else occurrence_id(raw, inst.index))


def item_id(item: CalendarItem, immutable: bool) -> str:
    return graph_id(item.immutable_id if immutable else item.id)


def wants_immutable(request: Request) -> bool:
    return (request.prefers("IdType") or "").lower() == "immutableid"


_TYPES = {
    "Single": "singleInstance",
    "Occurrence": "occurrence",
    "Exception": "exception",
    "RecurringMaster": "seriesMaster",
}


def _original_zone(item: CalendarItem) -> str:
    """The event's zone as Graph names it (Windows ids, as Outlook sets them)."""
    try:
        return timezones.ms_id_from_tz(item.tz)
    except timezones.UnknownTimeZoneError:
        return item.tz


def _event_times(inst: Instance, request: Request) -> dict[str, dict[str, str]]:
    """start and end. A timed event's are its instants in the answer's zone. An all-day
    event's are its dates: midnights on the wall clock of the event's own zone, labelled with
    the answer's zone all the same (Exchange Online answers a London all-day event on a
    spring-forward Sunday as 2027-03-28T00:00 to 2027-03-29T00:00 "UTC", and with
    `Prefer: outlook.timezone` the same midnights under that zone's name). The event's zone
    is in originalStartTimeZone/originalEndTimeZone."""
    if not inst.item.is_all_day:
        return {
            "start": date_time_time_zone(inst.start, request),
            "end": date_time_time_zone(inst.end, request),
        }
    _, name = output_zone(request)
    own = zoneinfo.ZoneInfo(inst.item.tz)
    return {
        "start": {"dateTime": format_datetime(inst.start, own), "timeZone": name},
        "end": {"dateTime": format_datetime(inst.end, own), "timeZone": name},
    }


def event_json(
    inst: Instance,
    request: Request,
    *,
    show_private: bool = True,
    expand_extended: list[str] | None = None,
) -> dict[str, Any]:
    """One event as Graph renders it. `show_private` False hides a private event's subject,
    location and body (callers without private-item access)."""
    item = inst.item
    immutable = wants_immutable(request)
    hidden = item.sensitivity == "Private" and not show_private
    master = inst.master
    body: dict[str, Any] = {
        "@odata.etag": f'W/"{item.change_key}"',
        "id": event_id(inst, immutable),
        "createdDateTime": utc_stamp(item.created),
        "lastModifiedDateTime": utc_stamp(item.modified),
        "changeKey": item.change_key,
        "transactionId": item.transaction_id or None,
        "iCalUId": item.uid if master is None else master.uid,
        "subject": None if hidden else item.subject,
        "bodyPreview": "" if hidden else item.body[:255],
        "body": None
        if hidden
        else {
            "contentType": "html" if item.body_type.upper() == "HTML" else "text",
            "content": item.body,
        },
        "importance": item.importance.lower(),
        "sensitivity": SENSITIVITY.get(item.sensitivity, "normal"),
        "isAllDay": item.is_all_day,
        "isCancelled": False,
        "isOrganizer": True,
        "showAs": SHOW_AS.get(item.status, "unknown"),
        "type": _TYPES[inst.kind],
        "seriesMasterId": item_id(master, immutable) if master is not None else None,
        **_event_times(inst, request),
        "originalStartTimeZone": _original_zone(item),
        "originalEndTimeZone": _original_zone(item),
        "location": {"displayName": "" if hidden else item.location},
        "organizer": email_address(item.organizer[0], item.organizer[1]),
        "attendees": [
            {
                "type": attendee.kind.lower(),
                "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                **email_address(attendee.email, attendee.name),
            }
            for attendee in item.attendees
        ],
        "isOnlineMeeting": item.is_online_meeting,
        "onlineMeetingProvider": "teamsForBusiness" if item.is_online_meeting else "unknown",
        "onlineMeeting": {"joinUrl": item.online_meeting_url} if item.is_online_meeting else None,
        "categories": list(item.categories),
        "isReminderOn": item.reminder_is_set,
        "reminderMinutesBeforeStart": item.reminder_minutes,
    }
    if body["transactionId"] is None:
        del body["transactionId"]
    if expand_extended is not None:
        wanted = {name.lower() for name in expand_extended}
        props = [
            {"id": extended_id(prop), "value": prop.values[0] if prop.values else ""}
            for prop in item.extended.values()
            if not wanted or extended_id(prop).lower() in wanted
        ]
        if props:
            body["singleValueExtendedProperties"] = props
    return select(body, request)


def select(body: dict[str, Any], request: Request) -> dict[str, Any]:
    """Honour `$select` (case-insensitive names); id and the etag always stay."""
    raw = request.query.get("$select")
    if not raw:
        return body
    wanted = {name.strip().lower() for name in raw.split(",") if name.strip()}
    wanted |= {"id", "@odata.etag", "singlevalueextendedproperties"}
    return {key: value for key, value in body.items() if key.lower() in wanted}


def minutes_text(minutes: int) -> str:
    """Minutes after midnight -> Graph's time of day "08:00:00.0000000"."""
    clock = timedelta(minutes=minutes % 1440)
    hours, rest = divmod(int(clock.total_seconds()), 3600)
    return f"{hours:02d}:{rest // 60:02d}:00.0000000"
