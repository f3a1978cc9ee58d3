"""Events: calendarView, list/get/create/update/delete, and calendarView delta.

Looked up (microsoftgraph/microsoft-graph-docs-contrib, v1.0 calendar-list-calendarview.md,
user-list-calendarview.md, event-get.md, calendar-post-events.md, event-update.md,
event-delete.md, event-delta.md, concepts/delta-query-events.md, paging.md,
outlook-immutable-id.md, extended-properties-overview.md):

- calendarView needs `startDateTime` and `endDateTime` (ISO 8601); without them 400
  `ErrorInvalidParameter` "This request requires a time window specified by the query string
  parameters StartDateTime and EndDateTime."; recurring series come back expanded
  (occurrences and exceptions, never the master); pages of 10 by default, `$top` up to 999,
  `@odata.nextLink` an absolute URL with `$skiptoken`.
- create: 201 with the event; `transactionId` is "a custom identifier specified by a client
  app for the server to avoid redundant POST operations in case of client retries to create
  the same event"; no dedup window is documented: here a second POST with the same
  transactionId into the same calendar answers the event the first one made (201 again).
- update keeps the id and gives a new changeKey; delete answers 204 (Outlook moves the item
  to Deleted Items; the old id then answers 404 ErrorItemNotFound) unless asked with an
  immutable id, which keeps naming the item.
- extended properties: `singleValueExtendedProperties` [{id: "String {guid} Name X", value}],
  found with `$filter=singleValueExtendedProperties/Any(ep: ep/id eq '..' and ep/value eq
  '..')` and returned with `$expand=singleValueExtendedProperties($filter=id eq '..')`.
- delta: pages with `@odata.nextLink` ($skiptoken) and lastly `@odata.deltaLink`
  ($deltatoken); later rounds return what was added or changed and `{"id", "@removed":
  {"reason": "deleted"}}` for what left the view. A token the server no longer knows: 410
  Gone, and the client starts a new initial round (delta-query-overview.md: "the service
  returns 410 Gone ... resync"); the code here is `SyncStateNotFound`.
- a private event keeps its time but, to callers without private-item access, shows no
  subject, location or body.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from ..items import (
    SUBJECT_MAX_LENGTH,
    Instance,
    delete_occurrence,
    instances_in,
    modify_occurrence,
    occurrence,
    snap_all_day,
)
from ..model import (
    Attendee,
    CalendarItem,
    ExtendedProp,
    Folder,
    Mailbox,
    SentMail,
    extended_key,
    new_id,
    split_occurrence_id,
)
from ..permissions import may_delete, may_edit
from . import access, render
from .routes import GraphError, Params, Request, Response, route

DEFAULT_PAGE = 10
MAX_TOP = 999
_NOT_FOUND = ("ErrorItemNotFound", "The specified object was not found in the store.")
_EXT_FILTER = re.compile(
    r"singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'(.+?)'\s+and\s+"
    r"\1/value\s+eq\s+'(.*?)'\s*\)\s*$",
    re.IGNORECASE,
)
_CALENDAR_EXPAND = re.compile(r"(?:^|,)\s*calendar\b", re.IGNORECASE)
_EXT_EXPAND = re.compile(
    r"singleValueExtendedProperties(?:\(\s*\$filter\s*=\s*id\s+eq\s+'(.+?)'\s*\))?",
    re.IGNORECASE,
)


def not_found() -> GraphError:
    return GraphError(404, *_NOT_FOUND)


# ------------------------------------------------------------------------ paging


def _token(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _untoken(token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        raise GraphError(400, "ErrorInvalidUrlQuery", "The $skiptoken is not valid.") from None
    if not isinstance(value, dict):
        raise GraphError(400, "ErrorInvalidUrlQuery", "The $skiptoken is not valid.")
    return value


def _link(request: Request, **replace: str) -> str:
    query = {k: v for k, v in request.query.items() if k not in ("$skiptoken", "$deltatoken")}
    query.update(replace)
    return f"{request.sim.graph_url}{request.path}?{urlencode(query, safe='$:')}"


def _page_size(request: Request) -> int:
    raw = request.query.get("$top")
    if raw is None:
        preferred = request.prefers("odata.maxpagesize")
        return int(preferred) if preferred and preferred.isdigit() else DEFAULT_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_TOP:
        raise GraphError(
            400, "ErrorInvalidUrlQuery", f"The value of $top must be between 1 and {MAX_TOP}."
        )
    return int(raw)


def _paged(request: Request, values: list[dict[str, Any]], context: str) -> Response:
    skip = (
        int(_untoken(request.query["$skiptoken"]).get("skip", 0))
        if ("$skiptoken" in request.query)
        else 0
    )
    size = _page_size(request)
    body: dict[str, Any] = {"@odata.context": context, "value": values[skip : skip + size]}
    if skip + size < len(values):
        body["@odata.nextLink"] = _link(request, **{"$skiptoken": _token({"skip": skip + size})})
    return Response(200, body)


def _context(request: Request, mbx: Mailbox, tail: str) -> str:
    return f"{request.sim.graph_url}/$metadata#users('{mbx.smtp}')/{tail}"


# ------------------------------------------------------------------------ calendarView


def _window(request: Request) -> tuple[datetime, datetime]:
    start = request.query.get("startDateTime") or request.query.get("StartDateTime")
    end = request.query.get("endDateTime") or request.query.get("EndDateTime")
    if not start or not end:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime.",
        )
    return (
        render.parse_instant(start, UTC, "startDateTime"),
        render.parse_instant(end, UTC, "endDateTime"),
    )


def view_instances(folder: Folder, start: datetime, end: datetime) -> list[Instance]:
    return sorted(
        (i for item in folder.items.values() for i in instances_in(item, start, end)),
        key=lambda i: (i.start, i.end, i.item.subject),
    )


def _calendar_view(request: Request, user: str, calendar_id: str | None) -> Response:
    mbx = access.calendar_mailbox(request, user)
    folder = access.calendar(request, mbx, calendar_id)
    access.require_read(request, folder)
    start, end = _window(request)
    private = access.sees_private(request, folder)
    values = [
        render.event_json(i, request, show_private=private)
        for i in view_instances(folder, start, end)
    ]
    return _paged(request, values, _context(request, mbx, "calendarView"))


@route("GET", "/users/{user}/calendarView")
def calendar_view(request: Request, params: Params) -> Response:
    return _calendar_view(request, params["user"], None)


@route("GET", "/users/{user}/calendar/calendarView")
def primary_calendar_view(request: Request, params: Params) -> Response:
    return _calendar_view(request, params["user"], None)


@route("GET", "/users/{user}/calendars/{calendar}/calendarView")
def calendar_calendar_view(request: Request, params: Params) -> Response:
    return _calendar_view(request, params["user"], params["calendar"])


# ------------------------------------------------------------------------ finding events


def find_event(
    request: Request, mbx: Mailbox, event_id: str, *, include_deleted: bool = False
) -> tuple[Folder, CalendarItem, Instance]:
    """An event of `mbx` by Graph id (regular or immutable; single items, masters,
    occurrences and exceptions). With `include_deleted`, an immutable id also finds the
    item in Deleted Items, where Outlook's Delete moved it: that is what immutable ids are
    for (outlook-immutable-id.md: "an item's ID doesn't change when it moves")."""
    store = request.store
    raw = render.store_id(event_id)
    calendars = store.calendars(mbx.smtp)
    trash = store.distinguished(mbx.smtp, "deleteditems")
    if include_deleted and trash is not None:
        for candidate in trash.items.values():
            if candidate.immutable_id == raw:
                return trash, candidate, Instance(candidate, candidate.start, candidate.end)

    def by_id(wanted: str) -> tuple[Folder, CalendarItem] | None:
        for folder in calendars:
            item = folder.items.get(wanted)
            if item is not None:
                return folder, item
            for candidate in folder.items.values():
                if candidate.immutable_id == wanted:
                    return folder, candidate
        return None

    found = by_id(raw)
    if found is not None:
        return found[0], found[1], Instance(found[1], found[1].start, found[1].end)
    split = split_occurrence_id(raw)
    if split is not None:
        master_id, index = split
        found = by_id(master_id)
        if found is not None:
            from ..model import StoreError

            try:
                return found[0], found[1], occurrence(found[1], index)
            except StoreError:
                raise not_found() from None
    raise not_found()


@route("GET", "/users/{user}/events/{event}")
def get_event(request: Request, params: Params) -> Response:
    return _get_event(request, params, mailbox_wide=True)


def _get_event(request: Request, params: Params, *, mailbox_wide: bool) -> Response:
    mbx = access.calendar_mailbox(request, params["user"])
    # /events/{id} binds the item wherever it is in the mailbox, so an immutable id still
    # finds it in Deleted Items; under /calendar(s/{id})/events/{id} only that calendar's
    # items are found (a modelling choice: the docs don't say). Only the owner (or an app)
    # reaches Deleted Items: sharing a calendar shares no mail folder.
    owner_or_app = request.caller.is_app_only or request.caller.user == mbx.smtp
    folder, _, inst = find_event(
        request, mbx, params["event"], include_deleted=mailbox_wide and owner_or_app
    )
    if folder.is_calendar:
        access.require_read(request, folder)
    private = access.sees_private(request, folder)
    expand = _expand(request)
    body = render.event_json(inst, request, show_private=private, expand_extended=expand)
    if _CALENDAR_EXPAND.search(request.query.get("$expand") or ""):
        # event.calendar, "the calendar that contains the event" (event.md relationships):
        # where the item is now, whichever calendar (or Deleted Items) the path named.
        body["calendar"] = {"id": render.graph_id(folder.id), "name": folder.name}
    return Response(200, body)


@route("GET", "/users/{user}/calendar/events/{event}")
def get_primary_calendar_event(request: Request, params: Params) -> Response:
    return _get_event(request, params, mailbox_wide=False)


@route("GET", "/users/{user}/calendars/{calendar}/events/{event}")
def get_calendar_event(request: Request, params: Params) -> Response:
    return _get_event(request, params, mailbox_wide=False)


def _expand(request: Request) -> list[str] | None:
    raw = request.query.get("$expand")
    if not raw:
        return None
    found = _EXT_EXPAND.search(raw)
    if found is None:
        return None
    return [found.group(1)] if found.group(1) else []


def _list_events(request: Request, user: str, calendar_id: str | None) -> Response:
    mbx = access.calendar_mailbox(request, user)
    folder = access.calendar(request, mbx, calendar_id)
    access.require_read(request, folder)
    items = sorted(folder.items.values(), key=lambda i: (i.start, i.subject))
    raw_filter = request.query.get("$filter")
    if raw_filter:
        found = _EXT_FILTER.search(raw_filter)
        if found is None:
            raise GraphError(
                400,
                "ErrorInvalidUrlQueryFilter",
                "The query filter contains one or more invalid nodes.",
            )
        key = extended_key(render.extended_attrs(found.group(2)))
        value = found.group(3).replace("''", "'")
        items = [i for i in items if key in i.extended and value in i.extended[key].values]
    private = access.sees_private(request, folder)
    expand = _expand(request)
    values = [
        render.event_json(
            Instance(i, i.start, i.end), request, show_private=private, expand_extended=expand
        )
        for i in items
    ]
    return _paged(request, values, _context(request, mbx, "events"))


@route("GET", "/users/{user}/events")
def list_events(request: Request, params: Params) -> Response:
    return _list_events(request, params["user"], None)


@route("GET", "/users/{user}/calendar/events")
def list_primary_calendar_events(request: Request, params: Params) -> Response:
    return _list_events(request, params["user"], None)


@route("GET", "/users/{user}/calendars/{calendar}/events")
def list_calendar_events(request: Request, params: Params) -> Response:
    return _list_events(request, params["user"], params["calendar"])


# ------------------------------------------------------------------------ create


def _attendees(value: Any) -> list[Attendee]:
    out = []
    for entry in value or []:
        address = ((entry or {}).get("emailAddress") or {}).get("address")
        if not address:
            raise GraphError(400, "ErrorInvalidRecipients", "An attendee has no email address.")
        name = (entry.get("emailAddress") or {}).get("name") or ""
        kind = str(entry.get("type") or "required").capitalize()
        out.append(Attendee(address.lower(), name, kind))
    return out


def _apply(item: CalendarItem, body: dict[str, Any], *, creating: bool) -> None:
    """Copy an event body's properties onto `item` (create and update)."""
    if "subject" in body:
        item.subject = str(body["subject"] or "")[:SUBJECT_MAX_LENGTH]
    if isinstance(body.get("body"), dict):
        item.body = str(body["body"].get("content") or "")
        kind = str(body["body"].get("contentType") or "text").lower()
        item.body_type = "HTML" if kind == "html" else "Text"
    if "location" in body:
        item.location = str((body["location"] or {}).get("displayName") or "")
    if "showAs" in body:
        status = render.STATUS_FROM_SHOW_AS.get(str(body["showAs"]).lower())
        if status is None:
            raise GraphError(400, "ErrorInvalidRequest", f"Invalid showAs '{body['showAs']}'.")
        item.status = status
    if "sensitivity" in body:
        sensitivity = render.SENSITIVITY_FROM_GRAPH.get(str(body["sensitivity"]).lower())
        if sensitivity is None:
            raise GraphError(400, "ErrorInvalidRequest", "Invalid sensitivity.")
        item.sensitivity = sensitivity
    if "importance" in body:
        item.importance = str(body["importance"]).capitalize()
    if "categories" in body:
        item.categories = [str(c) for c in body["categories"] or []]
    if "isReminderOn" in body:
        item.reminder_is_set = bool(body["isReminderOn"])
    if "reminderMinutesBeforeStart" in body:
        item.reminder_minutes = int(body["reminderMinutesBeforeStart"])
    if "start" in body:
        item.start, tz = render.parse_date_time_time_zone(body["start"], "start")
        item.tz = render.iana_name(tz)
    if "end" in body:
        item.end, _ = render.parse_date_time_time_zone(body["end"], "end")
    if "isAllDay" in body:
        item.is_all_day = bool(body["isAllDay"])
    if "attendees" in body:
        item.attendees = _attendees(body["attendees"])
        item.is_meeting = bool(item.attendees)
    for prop in body.get("singleValueExtendedProperties") or []:
        attrs = render.extended_attrs(str(prop.get("id", "")))
        item.extended[extended_key(attrs)] = ExtendedProp(attrs, [str(prop.get("value", ""))])
    if body.get("isOnlineMeeting") and not item.is_online_meeting:
        provider = body.get("onlineMeetingProvider", "teamsForBusiness")
        if provider != "teamsForBusiness":
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                f"The online meeting provider '{provider}' is not allowed for this calendar.",
            )
        # Once on, a Teams meeting can't be switched off by an update (event-update.md).
        item.is_online_meeting = True
        thread = f"19%3ameeting_{secrets.token_urlsafe(36)}%40thread.v2"
        item.online_meeting_url = (
            f"https://teams.microsoft.com/l/meetup-join/{thread}/0?context=%7b%22Tid%22%3a%22"
            f"{uuid.uuid4()}%22%7d"
        )
    if item.end < item.start:
        raise GraphError(
            400,
            "ErrorCalendarEndDateIsEarlierThanStartDate",
            "The end date occurs before the start date.",
        )
    if item.is_all_day:
        snap_all_day(item)


def _send(request: Request, kind: str, folder: Folder, item: CalendarItem) -> None:
    """Graph always sends meeting requests for an event with attendees (like EWS's
    SendToAllAndSaveCopy)."""
    recipients = [a.email for a in item.attendees]
    if recipients:
        request.store.sent.append(SentMail(kind, folder.mailbox, recipients, item.subject, item.id))
        item.meeting_request_was_sent = True


def _create(request: Request, user: str, calendar_id: str | None) -> Response:
    mbx = access.calendar_mailbox(request, user, write=True)
    folder = access.calendar(request, mbx, calendar_id, write=True)
    if not access.rights(request, folder).can_create_items:
        raise access.access_denied()
    body = request.body if isinstance(request.body, dict) else None
    if body is None:
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    if "start" not in body or "end" not in body:
        raise GraphError(400, "ErrorInvalidRequest", "The event needs a start and an end.")
    private = access.sees_private(request, folder)
    transaction = str(body.get("transactionId") or "")
    if transaction:
        for existing in folder.items.values():
            if existing.transaction_id == transaction:
                inst = Instance(existing, existing.start, existing.end)
                return Response(201, render.event_json(inst, request, show_private=private))
    owner = request.store.mailboxes[folder.mailbox]
    item = CalendarItem(new_id(b"I"), folder.id, datetime.now(UTC), datetime.now(UTC))
    item.organizer = (owner.smtp, owner.display_name)
    item.creator = request.caller.user or owner.smtp
    item.transaction_id = transaction
    _apply(item, body, creating=True)
    folder.items[item.id] = item
    _send(request, "invitation", folder, item)
    inst = Instance(item, item.start, item.end)
    return Response(201, render.event_json(inst, request, show_private=private, expand_extended=[]))


@route("POST", "/users/{user}/events")
def create_event(request: Request, params: Params) -> Response:
    return _create(request, params["user"], None)


@route("POST", "/users/{user}/calendar/events")
def create_primary_calendar_event(request: Request, params: Params) -> Response:
    return _create(request, params["user"], None)


@route("POST", "/users/{user}/calendars/{calendar}/events")
def create_calendar_event(request: Request, params: Params) -> Response:
    return _create(request, params["user"], params["calendar"])


# ------------------------------------------------------------------------ update, delete


@route("PATCH", "/users/{user}/events/{event}")
def update_event(request: Request, params: Params) -> Response:
    mbx = access.calendar_mailbox(request, params["user"], write=True)
    folder, item, inst = find_event(request, mbx, params["event"])
    granted = access.rights(request, folder)
    caller = request.caller.user or mbx.smtp
    if not may_edit(granted, caller, item.creator):
        raise access.access_denied()
    body = request.body if isinstance(request.body, dict) else {}
    private = access.sees_private(request, folder)
    if inst.index is not None:
        allowed = {"subject", "body", "location", "showAs", "sensitivity", "start", "end"}
        changes = {k: v for k, v in body.items() if k in allowed}
        updated = modify_occurrence(
            item, inst.index, lambda draft: _apply(draft, changes, creating=False)
        )
        _send(request, "update", folder, updated.item)
        return Response(200, render.event_json(updated, request, show_private=private))
    body = {k: v for k, v in body.items() if k != "transactionId"}
    _apply(item, body, creating=False)
    item.touch()
    if item.is_meeting:
        _send(request, "update", folder, item)
    return Response(
        200, render.event_json(Instance(item, item.start, item.end), request, show_private=private)
    )


@route("DELETE", "/users/{user}/events/{event}")
def delete_event(request: Request, params: Params) -> Response:
    mbx = access.calendar_mailbox(request, params["user"], write=True)
    folder, item, inst = find_event(request, mbx, params["event"])
    granted = access.rights(request, folder)
    caller = request.caller.user or mbx.smtp
    if not may_delete(granted, caller, item.creator):
        raise access.access_denied()
    if inst.index is not None:
        delete_occurrence(item, inst)
        return Response(204)
    if item.is_meeting and item.organizer[0] == folder.mailbox:
        _send(request, "cancellation", folder, item)
    request.store.move_to_deleted_items(folder, item)
    return Response(204)


@route("PATCH", "/users/{user}/calendars/{calendar}/events/{event}")
def update_calendar_event(request: Request, params: Params) -> Response:
    return update_event(request, params)


@route("DELETE", "/users/{user}/calendars/{calendar}/events/{event}")
def delete_calendar_event(request: Request, params: Params) -> Response:
    return delete_event(request, params)


@route("PATCH", "/users/{user}/calendar/events/{event}")
def update_primary_calendar_event(request: Request, params: Params) -> Response:
    return update_event(request, params)


@route("DELETE", "/users/{user}/calendar/events/{event}")
def delete_primary_calendar_event(request: Request, params: Params) -> Response:
    return delete_event(request, params)


# ------------------------------------------------------------------------ delta


def _gone() -> GraphError:
    return GraphError(
        410,
        "SyncStateNotFound",
        "The sync state was not found or has expired. Start a new initial synchronization.",
    )


def _delta(request: Request, user: str, calendar_id: str | None) -> Response:
    mbx = access.calendar_mailbox(request, user)
    state = request.sim.graph_state
    query = request.query
    context = _context(request, mbx, "events/delta")
    size = _page_size(request)
    if "$skiptoken" in query:
        saved = state.get("skip:" + query["$skiptoken"])
        if saved is None:
            raise _gone()
        pending, snapshot = saved["pending"], saved["snapshot"]
        folder_id, window = saved["folder"], saved["window"]
    else:
        if "$deltatoken" in query:
            previous = state.get("delta:" + query["$deltatoken"])
            if previous is None:
                raise _gone()
            folder_id, window, seen = previous["folder"], previous["window"], previous["seen"]
            folder = request.store.folders.get(folder_id)
            if folder is None:
                raise _gone()
        else:
            folder = access.calendar(request, mbx, calendar_id)
            start, end = _window(request)
            folder_id, window, seen = folder.id, [start.isoformat(), end.isoformat()], None
        access.require_read(request, folder)
        private = access.sees_private(request, folder)
        start, end = (datetime.fromisoformat(w) for w in window)
        current = view_instances(folder, start, end)
        immutable = render.wants_immutable(request)
        snapshot = {render.event_id(i, immutable): i.item.change_key for i in current}
        pending = [
            render.event_json(i, request, show_private=private)
            for i in current
            if seen is None or seen.get(render.event_id(i, immutable)) != i.item.change_key
        ]
        if seen is not None:
            pending += [
                {
                    "@odata.type": "#microsoft.graph.event",
                    "id": gone,
                    "@removed": {"reason": "deleted"},
                }
                for gone in seen
                if gone not in snapshot
            ]
    page, rest = pending[:size], pending[size:]
    body: dict[str, Any] = {"@odata.context": context, "value": page}
    base = {"folder": folder_id, "window": window}
    if rest:
        token = secrets.token_urlsafe(24)
        state["skip:" + token] = {**base, "pending": rest, "snapshot": snapshot}
        body["@odata.nextLink"] = _delta_link(request, "$skiptoken", token)
    else:
        token = secrets.token_urlsafe(24)
        state["delta:" + token] = {**base, "seen": snapshot}
        body["@odata.deltaLink"] = _delta_link(request, "$deltatoken", token)
    return Response(200, body)


def _delta_link(request: Request, name: str, token: str) -> str:
    # Like Graph's, the links carry only the token: the window is part of the saved state.
    return f"{request.sim.graph_url}{request.path}?{urlencode({name: token}, safe='$')}"


@route("GET", "/users/{user}/calendarView/delta")
def calendar_view_delta(request: Request, params: Params) -> Response:
    return _delta(request, params["user"], None)


@route("GET", "/users/{user}/calendar/calendarView/delta")
def primary_calendar_view_delta(request: Request, params: Params) -> Response:
    return _delta(request, params["user"], None)


@route("GET", "/users/{user}/calendars/{calendar}/calendarView/delta")
def calendar_calendar_view_delta(request: Request, params: Params) -> Response:
    return _delta(request, params["user"], params["calendar"])
