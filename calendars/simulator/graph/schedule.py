"""`POST /users/{id}/calendar/getSchedule`: free/busy of up to 20 people.

Looked up (microsoftgraph/microsoft-graph-docs-contrib, v1.0 calendar-getschedule.md,
scheduleinformation.md, scheduleitem.md, freebusyerror.md, workinghours.md):

- body: `schedules` (smtp addresses), `startTime`/`endTime` (dateTimeTimeZone),
  `availabilityViewInterval` (minutes, 5..1440, default 30); at most 20 schedules and a
  window under 62 days. Times in the answer are UTC unless `Prefer: outlook.timezone`.
- each `scheduleInformation`: scheduleId, availabilityView, scheduleItems (status free,
  tentative, busy, oof, workingElsewhere, unknown; start; end; isPrivate; subject and location
  where the caller may see them), workingHours (daysOfWeek, startTime, endTime,
  timeZone {name}), or `error` {message, responseCode} for a schedule that could not be read:
  the call itself still succeeds.
- availabilityView digits: the team's notes (graph-calendars.md, from the v1.0 getSchedule
  page) say 0 = free *or working elsewhere*, 1 tentative, 2 busy, 3 oof; the stored
  scheduleInformation resource page lists 4 = working elsewhere. Exchange Online's answers
  follow the getSchedule page, which is what is modelled: working elsewhere is 0, so a client
  must read scheduleItems to see it. Unknown (NoData) entries do not block (0).

Not documented, modelled on the EWS availability service this sits on: an unknown address is
`ErrorMailRecipientNotFound`, a calendar with no free/busy access `ErrorNoFreeBusyAccess`, the
codes for too many schedules and a too long window `ErrorInvalidParameter` (400).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..items import instances_in, merged_statuses
from ..model import Mailbox
from ..permissions import RIGHTS, Level, Rights, rights_for
from . import access, render
from .routes import GraphError, Params, Request, Response, route

MAX_SCHEDULES = 20
MAX_WINDOW = timedelta(days=62)
_DIGIT = {"Free": "0", "WorkingElsewhere": "0", "NoData": "0"}
_DIGIT |= {"Tentative": "1", "Busy": "2", "OOF": "3"}
_PRIORITY = ["Free", "NoData", "WorkingElsewhere", "Tentative", "Busy", "OOF"]


@route("POST", "/users/{user}/calendar/getSchedule")
def get_schedule(request: Request, params: Params) -> Response:
    access.calendar_mailbox(request, params["user"])
    raw = request.body if isinstance(request.body, dict) else {}
    # getSchedule is an OData action, whose parameters Graph matches without regard to case:
    # the documentation writes "schedules", Graph's metadata (and so msgraph-sdk) "Schedules".
    names = {"schedules", "startTime", "endTime", "availabilityViewInterval"}
    body = {n: v for key, v in raw.items() for n in names if key.lower() == n.lower()}
    schedules = body.get("schedules")
    if not isinstance(schedules, list) or not schedules:
        raise GraphError(400, "ErrorInvalidParameter", "The schedules parameter is required.")
    if len(schedules) > MAX_SCHEDULES:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            f"The number of schedules requested ({len(schedules)}) is over the maximum "
            f"({MAX_SCHEDULES}).",
        )
    start, _ = render.parse_date_time_time_zone(body.get("startTime"), "startTime")
    end, _ = render.parse_date_time_time_zone(body.get("endTime"), "endTime")
    if end <= start:
        raise GraphError(400, "ErrorInvalidParameter", "The endTime must be after startTime.")
    if end - start >= MAX_WINDOW:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "The requested time duration must be less than 62 days.",
        )
    interval = body.get("availabilityViewInterval") or 30
    if not isinstance(interval, int) or not 5 <= interval <= 1440:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "The availabilityViewInterval must be between 5 and 1440 minutes.",
        )
    values = [_schedule(request, str(address), start, end, interval) for address in schedules]
    return Response(
        200,
        {
            "@odata.context": f"{request.sim.graph_url}/$metadata"
            "#Collection(microsoft.graph.scheduleInformation)",
            "value": values,
        },
    )


def _error(address: str, code: str, message: str) -> dict[str, Any]:
    return {
        "scheduleId": address,
        "availabilityView": "",
        "scheduleItems": [],
        "error": {"message": message, "responseCode": code},
    }


def _schedule(
    request: Request, address: str, start: datetime, end: datetime, interval: int
) -> dict[str, Any]:
    store = request.store
    mbx = store.find_mailbox(address.strip())
    if mbx is None:
        return _error(
            address,
            "ErrorMailRecipientNotFound",
            f"Unable to resolve e-mail address {address} to an Active Directory object.",
        )
    if mbx.on_premises:
        return _error(
            address,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    calendar = store.folders[mbx.calendar_id]
    granted = _rights(request, mbx)
    if granted is None:
        return _error(
            address, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
        )
    if granted.read_items == "None":
        return _error(address, "ErrorNoFreeBusyAccess", "No free/busy access.")
    entries = sorted(
        (i for item in calendar.items.values() for i in instances_in(item, start, end)),
        key=lambda e: (e.start, e.end),
    )
    details = granted.read_items in ("TimeAndSubjectAndLocation", "FullDetails")
    items = []
    for entry in entries:
        private = entry.item.sensitivity == "Private"
        scheduled: dict[str, Any] = {
            "isPrivate": private,
            "status": render.SHOW_AS.get(entry.item.status, "unknown"),
            "start": render.date_time_time_zone(entry.start, request),
            "end": render.date_time_time_zone(entry.end, request),
        }
        if details and not (private and not granted.view_private_items):
            scheduled["subject"] = entry.item.subject
            scheduled["location"] = entry.item.location
        items.append(scheduled)
    return {
        "scheduleId": address,
        "availabilityView": _view(entries, start, end, interval),
        "scheduleItems": items,
        "workingHours": _working_hours(mbx),
    }


def _rights(request: Request, mbx: Mailbox) -> Rights | None:
    caller = request.caller
    if caller.is_app_only:
        scope = request.store.app_scopes.get(caller.app_id)
        if scope is not None and mbx.smtp not in {s.lower() for s in scope}:
            return None
        return RIGHTS[Level.OWNER]
    calendar = request.store.folders[mbx.calendar_id]
    return rights_for(calendar.permissions, calendar.mailbox, (caller.user or "").lower())


def _view(entries: list[Any], start: datetime, end: datetime, minutes: int) -> str:
    return "".join(_DIGIT[s] for s in merged_statuses(entries, start, end, minutes, _PRIORITY))


def _working_hours(mbx: Mailbox) -> dict[str, Any]:
    from .. import timezones

    period = mbx.working_hours[0] if mbx.working_hours else None
    return {
        "daysOfWeek": [day.lower() for day in period.days] if period else [],
        "startTime": render.minutes_text(period.start if period else 0),
        "endTime": render.minutes_text(period.end if period else 0),
        "timeZone": {"name": timezones.ms_id_from_tz(mbx.timezone)},
    }
