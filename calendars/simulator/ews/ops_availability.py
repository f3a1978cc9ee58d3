"""GetServerTimeZones and GetUserAvailability (free/busy)."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from lxml import etree

from .. import timezones
from ..items import Instance, instances_in, merged_statuses
from ..model import Mailbox
from ..permissions import Rights, rights_for
from .operations import Context
from .soap import (
    M_NS,
    T_NS,
    EWSError,
    children,
    fill_response_message,
    m,
    make,
    response_message,
    sub,
    t,
    xml_bool,
)


def get_server_time_zones(ctx: Context, request: etree._Element) -> etree._Element:
    full = request.get("ReturnFullTimeZoneData", "true").lower() == "true"
    ids_elem = request.find(m("Ids"))
    ids = [i.text or "" for i in ids_elem] if ids_elem is not None else None
    response = make(m("GetServerTimeZonesResponse"))
    messages = sub(response, m("ResponseMessages"))
    try:
        definitions = timezones.server_timezone_definitions(ids, full)
    except timezones.UnknownTimeZoneError as exc:
        msg = response_message("GetServerTimeZones", "ErrorTimeZone", str(exc))
        sub(msg, m("TimeZoneDefinitions"))
    else:
        msg = response_message("GetServerTimeZones")
        container = sub(msg, m("TimeZoneDefinitions"))
        container.extend(definitions)
    messages.append(msg)
    return response


# MergedFreeBusy digits, and which status wins when entries overlap in one interval.
_DIGIT = {
    "Free": "0",
    "Tentative": "1",
    "Busy": "2",
    "OOF": "3",
    "WorkingElsewhere": "4",
    "NoData": "5",
}
_PRIORITY = ["Free", "NoData", "Tentative", "WorkingElsewhere", "Busy", "OOF"]


def _merged(entries: list[Instance], start: datetime, end: datetime, minutes: int) -> str:
    return "".join(_DIGIT[s] for s in merged_statuses(entries, start, end, minutes, _PRIORITY))


# The longest TimeWindow Exchange answers free/busy for, by default; an administrator can
# raise it, which clients can't see. Longer windows fail as a whole.
MAX_WINDOW = timedelta(days=42)


# "100 identities, which is the maximum number of identities that the GetUserAvailability
# operation can request" (Microsoft's GetUserAvailability operation reference); more fail as
# a whole with ErrorMailboxDataArrayTooBig (messages.xsd's ResponseCodeType).
MAX_MAILBOXES = 100


def get_user_availability(ctx: Context, request: etree._Element) -> etree._Element:
    tz_elem = request.find(t("TimeZone"))
    try:
        req_tz: tzinfo = (
            timezones.tz_from_request_timezone(tz_elem) if tz_elem is not None else ctx.tz
        )
    except ValueError as exc:
        raise EWSError("ErrorInvalidRequest", f"Bad TimeZone: {exc}") from exc
    options = request.find(t("FreeBusyViewOptions"))
    if options is None:
        raise EWSError("ErrorInvalidRequest", "Only FreeBusyViewOptions requests are supported.")
    window = options.find(t("TimeWindow"))
    start = timezones.parse_ews_datetime(window.findtext(t("StartTime"), ""), req_tz)
    end = timezones.parse_ews_datetime(window.findtext(t("EndTime"), ""), req_tz)
    if end - start > MAX_WINDOW:
        raise EWSError(
            "ErrorTimeIntervalTooBig",
            f"The time window specified is larger than the allowed limit ({MAX_WINDOW.days} days).",
        )
    mailboxes = children(request, m("MailboxDataArray"))
    if len(mailboxes) > MAX_MAILBOXES:
        raise EWSError(
            "ErrorMailboxDataArrayTooBig",
            f"There are too many target users in the request. Number of target users: "
            f"{len(mailboxes)} maximum allowed: {MAX_MAILBOXES}.",
        )
    interval = int(options.findtext(t("MergedFreeBusyIntervalInMinutes"), "30"))
    requested = options.findtext(t("RequestedView"), "DetailedMerged")

    response = make(m("GetUserAvailabilityResponse"))
    array = sub(response, m("FreeBusyResponseArray"))
    for data in mailboxes:
        address = (data.findtext(f"{{{T_NS}}}Email/{{{T_NS}}}Address") or "").strip().lower()
        array.append(_free_busy(ctx, address, start, end, interval, requested, req_tz))
    return response


def _free_busy(
    ctx: Context,
    address: str,
    start: datetime,
    end: datetime,
    interval: int,
    requested: str,
    req_tz: tzinfo,
) -> etree._Element:
    fb = make(m("FreeBusyResponse"))
    msg = sub(fb, m("ResponseMessage"))
    mbx = ctx.store.find_mailbox(address) if address else None
    calendar = ctx.store.folders[mbx.calendar_id] if mbx else None
    rights = rights_for(calendar.permissions, calendar.mailbox, ctx.caller) if calendar else None
    if mbx:
        ctx.touch(mbx.smtp)
    if calendar is None or rights is None:
        msg.set("ResponseClass", "Error")
        # Exchange's own wording: the availability service's exception type, then the
        # address (Microsoft's "ErrorMailRecipientNotFound when viewing free/busy
        # information" support article quotes it; the same for an external address).
        fill_response_message(
            msg,
            "ErrorMailRecipientNotFound",
            "Microsoft.Exchange.InfoWorker.Common.Availability.MailRecipientNotFoundException: "
            f"Unable to resolve e-mail address {address} to an Active Directory object.",
        )
        _view_type(fb, "None")
        return fb
    if rights.read_items == "None":
        msg.set("ResponseClass", "Error")
        fill_response_message(
            msg,
            "ErrorNoFreeBusyAccess",
            "Microsoft.Exchange.InfoWorker.Common.Availability.NoFreeBusyAccessException: "
            "No free/busy access.",
        )
        _view_type(fb, "None")
        return fb
    msg.set("ResponseClass", "Success")
    fill_response_message(msg, "NoError", None)
    # With free/busy-only rights Exchange downgrades a Detailed request to plain free/busy.
    detailed = rights.read_items != "TimeOnly" and requested.startswith("Detailed")
    if requested.startswith("Detailed") and not detailed:
        view_type = "FreeBusyMerged" if requested == "DetailedMerged" else "FreeBusy"
    else:
        view_type = requested
    merged = view_type in ("MergedOnly", "FreeBusyMerged", "DetailedMerged")
    entries = sorted(
        (i for item in calendar.items.values() for i in instances_in(item, start, end)),
        key=lambda e: (e.start, e.end),
    )
    view = _view_type(fb, view_type)
    if merged:
        sub(view, t("MergedFreeBusy"), _merged(entries, start, end, interval))
    if view_type != "MergedOnly":
        if detailed:
            events = sub(view, t("CalendarEventArray"))
            for entry in entries:
                _event(events, entry, req_tz, detailed, rights)
        else:
            view.append(_plain_events(entries, req_tz))
        # Every view read from the mailbox carries its owner's work hours, free/busy-only
        # callers included (MS-OXWAVLS 4.2 shows them in a FreeBusy view; exchangelib's own
        # tests expect them in its default DetailedMerged). MergedOnly is the public-folder
        # form, which has no working hours.
        _working_hours(view, mbx, start)
    return fb


def _working_hours(view: etree._Element, mbx: Mailbox, start: datetime) -> None:
    """WorkingHours: the mailbox's zone as a SerializableTimeZone (the rule of the window's
    year) and its WorkingPeriods, minutes after midnight in that zone."""
    hours = sub(view, t("WorkingHours"))
    ms_id = timezones.ms_id_from_tz(mbx.timezone)
    groups = timezones.rule_groups(ms_id)
    rule = next((g.rule for g in reversed(groups) if g.first_year <= start.year), groups[0].rule)
    zone = sub(hours, t("TimeZone"))
    sub(zone, t("Bias"), str(-_minutes(rule.std_offset)))
    has_dst = rule.dst_offset is not None and rule.dst_start and rule.dst_end
    # Windows writes the standard rule as the change back to standard time (given in daylight
    # wall time), the daylight one as the change to DST (in standard wall time), each with its
    # bias relative to the zone's; Month 0 means "no transition".
    _zone_time(zone, "StandardTime", 0, rule.dst_end if has_dst else None)
    daylight_bias = -_minutes(rule.dst_offset - rule.std_offset) if has_dst else 0
    _zone_time(zone, "DaylightTime", daylight_bias, rule.dst_start if has_dst else None)
    periods = sub(hours, t("WorkingPeriodArray"))
    for period in mbx.working_hours:
        node = sub(periods, t("WorkingPeriod"))
        sub(node, t("DayOfWeek"), " ".join(period.days))
        sub(node, t("StartTimeInMinutes"), str(period.start))
        sub(node, t("EndTimeInMinutes"), str(period.end))


def _zone_time(parent: etree._Element, tag: str, bias: int, rule: timezones.DayRule | None) -> None:
    node = sub(parent, t(tag))
    sub(node, t("Bias"), str(bias))
    clock = rule.time if rule else timedelta(0)
    seconds = int(clock.total_seconds())
    sub(node, t("Time"), f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}")
    # 5 is "the last one in the month" (the form requests accept, and exchangelib reads).
    occurrence = 0 if rule is None else rule.occurrence
    sub(node, t("DayOrder"), str(5 if occurrence == timezones.LAST else occurrence))
    sub(node, t("Month"), str(rule.month if rule else 0))
    sub(node, t("DayOfWeek"), timezones.WEEKDAY_NAMES[rule.weekday] if rule else "Sunday")


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds()) // 60


def _view_type(fb: etree._Element, view_type: str) -> etree._Element:
    view = etree.SubElement(fb, f"{{{M_NS}}}FreeBusyView")
    sub(view, t("FreeBusyViewType"), view_type)
    return view


def _plain_events(entries: list[Instance], tz: tzinfo) -> etree._Element:
    """The CalendarEventArray of a FreeBusy view (times and BusyType only), written as text
    and parsed once: element by element it was a third of the time answering five people.
    The values are timestamps and the BusyType enumeration, which need no escaping."""
    fmt = timezones.format_local
    text = "".join(
        f"<t:CalendarEvent><t:StartTime>{fmt(e.start, tz)}</t:StartTime>"
        f"<t:EndTime>{fmt(e.end, tz)}</t:EndTime><t:BusyType>{e.item.status}</t:BusyType>"
        "</t:CalendarEvent>"
        for e in entries
    )
    return etree.fromstring(f'<t:CalendarEventArray xmlns:t="{T_NS}">{text}</t:CalendarEventArray>')


def _event(
    events: etree._Element, entry: Instance, tz: tzinfo, detailed: bool, rights: Rights
) -> None:
    """One CalendarEvent; times are wall-clock in the request's zone, without an offset."""
    item = entry.item
    event = sub(events, t("CalendarEvent"))
    sub(event, t("StartTime"), timezones.format_local(entry.start, tz))
    sub(event, t("EndTime"), timezones.format_local(entry.end, tz))
    sub(event, t("BusyType"), item.status)
    if not detailed:
        return
    # A private item still blocks its time with its BusyType, but its details are left out
    # (CalendarEventDetails reference: "if IsPrivate is true, the other elements are not
    # returned"; the schema still requires the flags) unless the caller may see private
    # items (the owner, a delegate allowed to).
    private = item.sensitivity == "Private"
    hidden = private and not rights.view_private_items
    details = sub(event, t("CalendarEventDetails"))
    if rights.read_items == "FullDetails" and not hidden:
        sub(details, t("ID"), entry.id)
    if not hidden:
        sub(details, t("Subject"), item.subject)
        sub(details, t("Location"), item.location)
    sub(details, t("IsMeeting"), xml_bool(item.is_meeting))
    # IsRecurring: "an instance of a recurring calendar item" (occurrences and exceptions;
    # free/busy never lists masters); IsException: an occurrence changed on its own.
    sub(details, t("IsRecurring"), xml_bool(entry.index is not None))
    sub(details, t("IsException"), xml_bool(entry.is_exception))
    sub(details, t("IsReminderSet"), xml_bool(item.reminder_is_set))
    sub(details, t("IsPrivate"), xml_bool(private))
