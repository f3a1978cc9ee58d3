"""FindItem, GetItem, CreateItem, UpdateItem and DeleteItem on calendar folders."""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from . import timezones
from .items import (
    Instance,
    Shape,
    apply_item_xml,
    clear_field,
    instances_in,
    item_xml,
    local_date,
    occurrence,
)
from .model import CalendarItem, Folder, SentMail, extended_key, new_id, split_occurrence_id
from .operations import Context, access_denied, folder_rights, require_read_items, resolve_folder
from .permissions import may_delete, may_edit
from .restrictions import matches
from .soap import EWSError, children, error_message, m, make, response_message, sub, t, xml_bool


def _not_found() -> EWSError:
    return EWSError("ErrorItemNotFound", "The specified object was not found in the store.")


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


def find_item(ctx: Context, request: etree._Element) -> etree._Element:
    shape = Shape.parse(request.find(m("ItemShape")))
    calendar_view = request.find(m("CalendarView"))
    indexed_view = request.find(m("IndexedPageItemView"))
    restriction = request.find(m("Restriction"))
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
                    # Exchange refuses restrictions combined with a calendar view.
                    raise EWSError(
                        "ErrorInvalidRestriction",
                        "Restrictions are not allowed with a CalendarView.",
                    )
                start = timezones.parse_ews_datetime(calendar_view.get("StartDate", ""), ctx.tz)
                end = timezones.parse_ews_datetime(calendar_view.get("EndDate", ""), ctx.tz)
                entries = [
                    i for item in folder.items.values() for i in instances_in(item, start, end)
                ]
                offset, limit = 0, int(calendar_view.get("MaxEntriesReturned", "0") or 0)
            else:
                entries = [Instance(i, i.start, i.end) for i in folder.items.values()]
                offset = int(indexed_view.get("Offset", "0")) if indexed_view is not None else 0
                limit = (
                    int(indexed_view.get("MaxEntriesReturned", "0") or 0)
                    if indexed_view is not None
                    else 0
                )
                if restriction is not None:
                    expr = next(c for c in restriction if isinstance(c.tag, str))
                    entries = [e for e in entries if matches(e, expr)]
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
        apply_item_xml(item, payload, ctx.tz)
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
            if inst.index is not None:
                raise EWSError(
                    "ErrorInvalidOperation", "The simulator cannot modify single occurrences."
                )
            item = inst.item
            rights = folder_rights(ctx, folder)
            if not may_edit(rights, ctx.caller, item.creator):
                raise access_denied()
            stale = ref.get("ChangeKey") and ref.get("ChangeKey") != item.change_key
            if stale and conflict_resolution == "NeverOverwrite":
                raise EWSError(
                    "ErrorIrresolvableConflict",
                    "The send or update operation could not be performed because the change key "
                    "passed in the request does not match the current change key for the item.",
                )
            for update in children(change, t("Updates")):
                _apply_update(ctx, item, update)
            if item.end < item.start:
                raise EWSError(
                    "ErrorCalendarEndDateIsEarlierThanStartDate",
                    "EndDate is earlier than StartDate",
                )
            item.is_meeting = bool(item.attendees)
            item.touch()
            if item.is_meeting and send != "SendToNone":
                _send(ctx, "update", folder, item)
            msg = response_message("UpdateItem")
            updated = sub(sub(msg, m("Items")), t("CalendarItem"))
            sub(updated, t("ItemId"), Id=item.id, ChangeKey=item.change_key)
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
    # HardDelete, SoftDelete and MoveToDeletedItems all take the item out of the calendar;
    # the simulator keeps no Deleted Items folder.
    cancellations = request.get("SendMeetingCancellations", "SendToNone")
    response = make(m("DeleteItemResponse"))
    messages = sub(response, m("ResponseMessages"))
    for ref in children(request, m("ItemIds")):
        try:
            folder, inst = resolve_item(ctx, ref)
            item = inst.item
            if not may_delete(folder_rights(ctx, folder), ctx.caller, item.creator):
                raise access_denied()
            if inst.index is not None:
                item.deleted_occurrences.add(local_date(item, inst.start))
                item.touch()
            else:
                del folder.items[item.id]
                if item.is_meeting and cancellations != "SendToNone":
                    _send(ctx, "cancellation", folder, item)
            msg = response_message("DeleteItem")
        except EWSError as err:
            msg = error_message("DeleteItem", err)
        messages.append(msg)
    return response
