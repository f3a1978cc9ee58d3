"""FindItem, GetItem, CreateItem, UpdateItem and DeleteItem on calendar folders."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from lxml import etree

from .. import timezones
from ..items import (
    Instance,
    delete_occurrence,
    exception_commit,
    exception_draft,
    instances_in,
    occurrence,
    snap_all_day,
)
from ..model import CalendarItem, Folder, SentMail, extended_key, new_id, split_occurrence_id
from ..permissions import may_delete, may_edit
from .item_xml import Shape, apply_item_xml, clear_field, item_xml
from .operations import (
    Context,
    access_denied,
    check_id,
    folder_rights,
    require_read_items,
    resolve_folder,
)
from .restrictions import ITEM_FIELDS, check, matches
from .soap import EWSError, children, error_message, m, make, response_message, sub, t, xml_bool


def _not_found() -> EWSError:
    return EWSError("ErrorItemNotFound", "The specified object was not found in the store.")


def _check_change_key(change_key: str | None) -> None:
    """A ChangeKey that can't be parsed (not base64, or empty) is ErrorInvalidChangeKey on
    every operation (Microsoft's ResponseCode reference; exchangelib's bulk_delete test gets
    it from Exchange for ChangeKey "XXX"). A missing one is fine; whether a stale one
    matters is the operation's business."""
    if change_key is None:
        return
    try:
        raw = base64.b64decode(change_key, validate=True)
    except ValueError:
        raw = b""
    if not raw:
        raise EWSError("ErrorInvalidChangeKey", "The change key is invalid.")


def _stale_change_key() -> EWSError:
    return EWSError(
        "ErrorIrresolvableConflict",
        "The send or update operation could not be performed because the change key passed "
        "in the request does not match the current change key for the item.",
    )


def resolve_item(ctx: Context, ref: etree._Element) -> tuple[Folder, Instance]:
    """t:ItemId (item or occurrence id), t:OccurrenceItemId or t:RecurringMasterItemId."""
    store = ctx.store
    name = etree.QName(ref).localname
    index: int | None = None
    if name == "ItemId":
        item_id = ref.get("Id", "")
        split = split_occurrence_id(item_id)
        if split is not None:
            item_id, index = split
    elif name == "OccurrenceItemId":
        item_id, index = ref.get("RecurringMasterId", ""), int(ref.get("InstanceIndex", "0"))
    elif name == "RecurringMasterItemId":
        item_id = ref.get("OccurrenceId", "")
        split = split_occurrence_id(item_id)
        if split is not None:
            item_id = split[0]
    else:
        raise EWSError("ErrorInvalidIdMalformed", f"Unsupported item id element {name}.")
    check_id(item_id)
    _check_change_key(ref.get("ChangeKey"))
    found = store.find_item(item_id)
    if found is None:
        raise _not_found()
    folder, item = found
    ctx.touch(folder.mailbox)
    if index is None:
        return folder, Instance(item, item.start, item.end)
    return folder, occurrence(item, index)


# ------------------------------------------------------------------------------------------
# FindItem
# ------------------------------------------------------------------------------------------


def _sort(entries: list[Instance], request: etree._Element) -> list[Instance]:
    orders = children(request, m("SortOrder"))
    if not orders:
        return sorted(entries, key=lambda e: (e.start, e.end, e.item.subject))
    for order in reversed(orders):  # stable sorts, least significant key first
        path = order.find(t("FieldURI"))
        uri = path.get("FieldURI", "") if path is not None else ""
        key = {
            "calendar:Start": lambda e: e.start,
            "calendar:End": lambda e: e.end,
            "item:Subject": lambda e: e.item.subject,
            "item:DateTimeCreated": lambda e: e.item.created,
            "item:LastModifiedTime": lambda e: e.item.modified,
        }.get(uri)
        if key is None:
            raise EWSError("ErrorUnsupportedPathForSortGroup", f"Cannot sort by {uri}.")
        entries = sorted(entries, key=key, reverse=order.get("Order") == "Descending")
    return entries


def _find_count_exceeded(limit: int) -> EWSError:
    return EWSError(
        "ErrorExceededFindCountLimit",
        "You have exceeded the maximum number of objects that can be returned for the find "
        "operation. Use paging to reduce the result size and try your request again.",
        {"PolicyLimit": str(limit)},
    )


def _calendar_window(ctx: Context, view: etree._Element) -> tuple[datetime, datetime]:
    start = timezones.parse_ews_datetime(view.get("StartDate", ""), ctx.tz)
    end = timezones.parse_ews_datetime(view.get("EndDate", ""), ctx.tz)
    if end < start:
        raise EWSError(
            "ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate"
        )
    # "more than the maximum allowed, currently 2 years" (Microsoft's ResponseCode reference)
    if end > _years_later(start, 2):
        raise EWSError(
            "ErrorCalendarViewRangeTooBig",
            "The calendar view range is larger than the maximum allowed, which is 2 years.",
        )
    return start, end


def _years_later(when: datetime, years: int) -> datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February
        return when.replace(year=when.year + years, day=28)


def find_item(ctx: Context, request: etree._Element) -> etree._Element:
    """FindItem, with Exchange's limits.

    A CalendarView takes no Restriction (ErrorInvalidOperation; exchangelib's calendar item
    tests expect exactly that from Exchange) and is not a paged view: when it would return
    more entries than the caller's EWSFindCountLimit throttling budget (1000 by default,
    `Store.find_count_limit` here) the whole request fails with ErrorExceededFindCountLimit
    and PolicyLimit in MessageXml (reported by ews-java-api #310 and php-ews #143), while an
    IndexedPageItemView page is cut to the limit with IncludesLastItemInRange false
    (Microsoft's "EWS throttling in Exchange"). MaxEntriesReturned on a CalendarView returns
    that many entries, with TotalItemsInView counting all of them.
    """
    shape = Shape.parse(request.find(m("ItemShape")))
    calendar_view = request.find(m("CalendarView"))
    indexed_view = request.find(m("IndexedPageItemView"))
    restriction = request.find(m("Restriction"))
    expr = (
        next((c for c in restriction if isinstance(c.tag, str)), None)
        if restriction is not None
        else None
    )
    find_limit = ctx.store.find_count_limit
    response = make(m("FindItemResponse"))
    messages = sub(response, m("ResponseMessages"))
    for ref in children(request, m("ParentFolderIds")):
        try:
            folder = resolve_folder(ctx, ref)
            if not folder.is_calendar:
                raise EWSError(
                    "ErrorInvalidOperation", "The simulator only holds calendar folders."
                )
            rights = require_read_items(ctx, folder)
            if calendar_view is not None:
                if restriction is not None:
                    raise EWSError(
                        "ErrorInvalidOperation",
                        "Restrictions and sort order may not be specified for a CalendarView.",
                    )
                start, end = _calendar_window(ctx, calendar_view)
                entries = [
                    i
                    for item in folder.items.values()
                    for i in instances_in(item, start, end, calendar_view=True)
                ]
                offset, limit = 0, int(calendar_view.get("MaxEntriesReturned", "0") or 0)
                if min(len(entries), limit or len(entries)) > find_limit:
                    raise _find_count_exceeded(find_limit)
            else:
                if expr is not None:
                    check(expr, ITEM_FIELDS)  # refused even when the folder is empty
                entries = [Instance(i, i.start, i.end) for i in folder.items.values()]
                offset = int(indexed_view.get("Offset", "0")) if indexed_view is not None else 0
                limit = (
                    int(indexed_view.get("MaxEntriesReturned", "0") or 0)
                    if indexed_view is not None
                    else 0
                )
                if expr is not None:
                    entries = [e for e in entries if matches(e, expr)]
                if indexed_view is None and len(entries) > find_limit:
                    raise _find_count_exceeded(find_limit)
                limit = min(limit or find_limit, find_limit)
            entries = _sort(entries, request)
            page = entries[offset : offset + limit] if limit else entries[offset:]
            msg = response_message("FindItem")
            attrs = {
                "TotalItemsInView": str(len(entries)),
                "IncludesLastItemInRange": xml_bool(offset + len(page) >= len(entries)),
            }
            if calendar_view is None:
                attrs["IndexedPagingOffset"] = str(offset + len(page))
            root = sub(msg, m("RootFolder"), **attrs)
            items = sub(root, t("Items"))
            for entry in page:
                items.append(item_xml(entry, folder, shape, rights, ctx.caller))
        except EWSError as err:
            msg = error_message("FindItem", err)
        messages.append(msg)
    return response


# ------------------------------------------------------------------------------------------
# GetItem
# ------------------------------------------------------------------------------------------


def get_item(ctx: Context, request: etree._Element) -> etree._Element:
    shape = Shape.parse(request.find(m("ItemShape")))
    response = make(m("GetItemResponse"))
    messages = sub(response, m("ResponseMessages"))
    for ref in children(request, m("ItemIds")):
        try:
            folder, inst = resolve_item(ctx, ref)
            rights = require_read_items(ctx, folder)
            msg = response_message("GetItem")
            sub(msg, m("Items")).append(item_xml(inst, folder, shape, rights, ctx.caller))
        except EWSError as err:
            msg = error_message("GetItem", err)
            sub(msg, m("Items"))  # the schema requires Items even on errors
        messages.append(msg)
    return response


# ------------------------------------------------------------------------------------------
# CreateItem
# ------------------------------------------------------------------------------------------


def _send(ctx: Context, kind: str, folder: Folder, item: CalendarItem) -> None:
    recipients = [a.email for a in item.attendees]
    if recipients:
        ctx.on_sent(SentMail(kind, folder.mailbox, recipients, item.subject, item.id))


def create_item(ctx: Context, request: etree._Element) -> etree._Element:
    disposition = request.get("SendMeetingInvitations", "SendToNone")
    saved = request.find(m("SavedItemFolderId"))
    response = make(m("CreateItemResponse"))
    messages = sub(response, m("ResponseMessages"))
    for elem in children(request, m("Items")):
        try:
            if saved is not None and len(saved):
                folder = resolve_folder(ctx, saved[0])
            else:
                folder = resolve_folder(ctx, make(t("DistinguishedFolderId"), Id="calendar"))
            if etree.QName(elem).localname != "CalendarItem" or not folder.is_calendar:
                raise EWSError("ErrorInvalidOperation", "The simulator only stores calendar items.")
            if not folder_rights(ctx, folder).can_create_items:
                raise access_denied()
            owner = ctx.store.mailboxes[folder.mailbox]
            now = datetime.now(UTC)
            item = CalendarItem(new_id(b"I"), folder.id, now, now, creator=ctx.caller)
            item.organizer = (owner.smtp, owner.display_name)
            apply_item_xml(item, elem, ctx.tz)
            if item.end < item.start:
                raise EWSError(
                    "ErrorCalendarEndDateIsEarlierThanStartDate",
                    "EndDate is earlier than StartDate",
                )
            item.is_meeting = bool(item.attendees)
            if item.is_meeting and disposition != "SendToNone":
                item.meeting_request_was_sent = True
                _send(ctx, "invitation", folder, item)
            folder.items[item.id] = item
            msg = response_message("CreateItem")
            created = sub(sub(msg, m("Items")), t("CalendarItem"))
            sub(created, t("ItemId"), Id=item.id, ChangeKey=item.change_key)
        except EWSError as err:
            msg = error_message("CreateItem", err)
            sub(msg, m("Items"))
        messages.append(msg)
    return response


# ------------------------------------------------------------------------------------------
# UpdateItem
# ------------------------------------------------------------------------------------------


def _apply_update(ctx: Context, item: CalendarItem, update: etree._Element) -> None:
    kind = etree.QName(update).localname
    path = next(c for c in update if isinstance(c.tag, str))
    path_kind = etree.QName(path).localname
    if kind in ("SetItemField", "AppendToItemField"):
        payload = update.find(t("CalendarItem"))
        if payload is None:
            raise EWSError("ErrorInvalidOperation", "The simulator only updates calendar items.")
        # Not snapped to whole days per field: one UpdateItem that sets a new start and
        # end and clears IsAllDayEvent (in any order) is judged as a whole, once.
        apply_item_xml(item, payload, ctx.tz, snap=False)
    elif kind == "DeleteItemField":
        if path_kind == "ExtendedFieldURI":
            item.extended.pop(extended_key(dict(path.attrib)), None)
        else:
            clear_field(item, path.get("FieldURI", ""))
    else:
        raise EWSError("ErrorInvalidOperation", f"Unsupported update {kind}.")


def update_item(ctx: Context, request: etree._Element) -> etree._Element:
    conflict_resolution = request.get("ConflictResolution", "AutoResolve")
    send = request.get("SendMeetingInvitationsOrCancellations", "SendToNone")
    response = make(m("UpdateItemResponse"))
    messages = sub(response, m("ResponseMessages"))
    for change in children(request, m("ItemChanges")):
        try:
            ref = next(c for c in change if isinstance(c.tag, str))
            folder, inst = resolve_item(ctx, ref)
            # An occurrence changed on its own becomes an exception: the updates go to a
            # draft that exception_commit stores on the master once they are all valid.
            item = inst.item if inst.index is None else exception_draft(inst)
            rights = folder_rights(ctx, folder)
            if not may_edit(rights, ctx.caller, item.creator):
                raise access_denied()
            # A ChangeKey older than the item's: Exchange fails NeverOverwrite and also
            # AutoResolve, exchangelib's default (exchangelib issue #623 and its own tests'
            # "safe_save" retry); only AlwaysOverwrite writes over the newer version.
            # Without a ChangeKey there is nothing to compare, and the update applies.
            stale = ref.get("ChangeKey") not in (None, item.change_key)
            if stale and conflict_resolution != "AlwaysOverwrite":
                raise _stale_change_key()
            for update in children(change, t("Updates")):
                _apply_update(ctx, item, update)
            if item.is_all_day:
                snap_all_day(item)
            if item.end < item.start:
                raise EWSError(
                    "ErrorCalendarEndDateIsEarlierThanStartDate",
                    "EndDate is earlier than StartDate",
                )
            item.is_meeting = bool(item.attendees)
            item.touch()
            if inst.index is not None:
                inst = exception_commit(inst, item)
                item = inst.item
            if item.is_meeting and send != "SendToNone":
                _send(ctx, "update", folder, item)
            msg = response_message("UpdateItem")
            updated = sub(sub(msg, m("Items")), t("CalendarItem"))
            # An exception answers with its occurrence id, as Exchange does.
            sub(updated, t("ItemId"), Id=inst.id, ChangeKey=item.change_key)
            sub(sub(msg, m("ConflictResults")), t("Count"), "0")
        except EWSError as err:
            msg = error_message("UpdateItem", err)
            sub(msg, m("Items"))
        messages.append(msg)
    return response


# ------------------------------------------------------------------------------------------
# DeleteItem
# ------------------------------------------------------------------------------------------


def delete_item(ctx: Context, request: etree._Element) -> etree._Element:
    # DeleteType (required by the schema): HardDelete removes the item for good; SoftDelete
    # moves it to Recoverable Items, which no folder here shows, so it is gone as well;
    # MoveToDeletedItems moves it to the mailbox's Deleted Items under a new ItemId (what
    # Outlook's Delete key does). From Deleted Items itself it is soft-deleted, as Exchange does.
    delete_type = request.get("DeleteType", "HardDelete")
    cancellations = request.get("SendMeetingCancellations", "SendToNone")
    response = make(m("DeleteItemResponse"))
    messages = sub(response, m("ResponseMessages"))
    for ref in children(request, m("ItemIds")):
        try:
            folder, inst = resolve_item(ctx, ref)
            item = inst.item
            if not may_delete(folder_rights(ctx, folder), ctx.caller, item.creator):
                raise access_denied()
            if inst.index is not None and inst.master is not None:
                delete_occurrence(inst.master, inst)  # an exception's changes go with it
            else:
                if item.is_meeting and cancellations != "SendToNone":
                    _send(ctx, "cancellation", folder, item)  # names the id that was deleted
                if delete_type == "MoveToDeletedItems" and folder.distinguished != "deleteditems":
                    ctx.store.move_to_deleted_items(folder, item)
                else:
                    del folder.items[item.id]
            msg = response_message("DeleteItem")
        except EWSError as err:
            msg = error_message("DeleteItem", err)
        messages.append(msg)
    return response
