"""ResolveNames, ConvertId and GetDelegate.

exchangelib sends ConvertId (with the id "DUMMY") only to learn the server version from the
response header, so the per-id answer matters less than the header; still, ids are answered
the way Exchange does: unknown or malformed ids get ErrorInvalidIdMalformed.
"""

from __future__ import annotations

import base64
import binascii

from lxml import etree

from ..model import DelegateEntry, Mailbox
from ..permissions import Level
from .operations import Context, mailbox_address
from .ops_folders import fake_sid
from .soap import (
    EWSError,
    children,
    fill_response_message,
    m,
    make,
    parse_bool,
    response_message,
    sub,
    t,
    xml_bool,
)


def convert_id(ctx: Context, request: etree._Element) -> etree._Element:
    destination = request.get("DestinationFormat", "EwsId")
    response = make(m("ConvertIdResponse"))
    messages = sub(response, m("ResponseMessages"))
    for source in children(request, m("SourceIds")):
        item_id = source.get("Id", "")
        try:
            base64.b64decode(item_id, validate=True)
            known = ctx.store.find_item(item_id) is not None or item_id in ctx.store.folders
        except binascii.Error:
            known = False
        if not known:
            messages.append(
                response_message("ConvertId", "ErrorInvalidIdMalformed", "Id is malformed.")
            )
            continue
        # Ids are opaque here and identical in every format; only the Format label changes.
        msg = response_message("ConvertId")
        alternate = sub(
            msg, m("AlternateId"), Format=destination, Id=item_id, Mailbox=source.get("Mailbox", "")
        )
        alternate.set("{http://www.w3.org/2001/XMLSchema-instance}type", "t:AlternateIdType")
        messages.append(msg)
    return response


def resolve_names(ctx: Context, request: etree._Element) -> etree._Element:
    """Match mailboxes by address, login, or a prefix of the address or display name."""
    entry = (request.findtext(m("UnresolvedEntry")) or "").strip().lower()
    entry = entry.removeprefix("smtp:")
    if not entry:
        raise EWSError("ErrorNameResolutionNoResults", "No results were found.")
    found = []
    for mbx in ctx.store.mailboxes.values():
        names = [mbx.smtp, mbx.display_name.lower(), *(x.lower() for x in mbx.logins)]
        if any(n == entry or n.startswith(entry) for n in names):
            found.append(mbx)
    response = make(m("ResolveNamesResponse"))
    messages = sub(response, m("ResponseMessages"))
    if not found:
        messages.append(
            response_message(
                "ResolveNames", "ErrorNameResolutionNoResults", "No results were found."
            )
        )
        return response
    msg = response_message("ResolveNames")
    if len(found) > 1:
        # Exchange answers several matches as a warning, not an error.
        msg = response_message(
            "ResolveNames",
            "ErrorNameResolutionMultipleResults",
            "Multiple results were found.",
        )
        msg.set("ResponseClass", "Warning")
    resolution_set = sub(
        msg,
        m("ResolutionSet"),
        TotalItemsInView=str(len(found)),
        IncludesLastItemInRange="true",
    )
    for mbx in found:
        box = sub(sub(resolution_set, t("Resolution")), t("Mailbox"))
        sub(box, t("Name"), mbx.display_name)
        sub(box, t("EmailAddress"), mbx.smtp)
        sub(box, t("RoutingType"), "SMTP")
        sub(box, t("MailboxType"), "Mailbox")
    messages.append(msg)
    return response


# --- GetDelegate -----------------------------------------------------------------------
#
# Who may read a mailbox's delegate list: its owner, an account with FullAccess on it, or a
# service impersonating the owner (then ctx.caller is the owner). A delegate with folder
# permissions only may not: the list lives in the owner's delegate information object
# (the LocalFreebusy message, [MS-OXODLGT]), outside any folder a delegate is shared, and
# Exchange answers "The specified object was not found in the store." (ErrorItemNotFound),
# the error EWS delegate-management scripts report when the caller lacks FullAccess.
# Asking about one user: not a delegate -> ErrorNotDelegate, unknown -> ErrorDelegateNoUser
# (exchangelib's tests/test_account.py test_delegate against a real server).

# Outlook's default for "Deliver meeting requests" once a delegate exists.
DELIVER_MEETING_REQUESTS = "DelegatesAndSendInformationToMe"
_DELEGATE_FOLDERS = (
    "CalendarFolderPermissionLevel",
    "TasksFolderPermissionLevel",
    "InboxFolderPermissionLevel",
    "ContactsFolderPermissionLevel",
    "NotesFolderPermissionLevel",
    "JournalFolderPermissionLevel",
)


def get_delegate(ctx: Context, request: etree._Element) -> etree._Element:
    store = ctx.store
    smtp = mailbox_address(request.find(m("Mailbox"))) or ctx.caller
    owner = store.mailboxes.get(smtp)
    response = make(m("GetDelegateResponse"))
    if owner is None:
        return _delegate_error(
            response,
            "ErrorNonExistentMailbox",
            f"The SMTP address has no mailbox associated with it. {smtp}",
        )
    ctx.touch(owner.smtp)
    if ctx.caller != owner.smtp and ctx.caller not in owner.full_access:
        return _delegate_error(
            response, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    with_permissions = parse_bool(request.get("IncludePermissions"))
    wanted = [_user_smtp(ctx, user) for user in children(request, m("UserIds"))]
    by_smtp = {entry.smtp: entry for entry in owner.delegates}
    messages: list[etree._Element] = []
    if not request.findall(m("UserIds")):
        messages = [_delegate_user(ctx, owner, e, with_permissions) for e in owner.delegates]
    for address in wanted:
        entry = by_smtp.get(address or "")
        if entry is not None:
            messages.append(_delegate_user(ctx, owner, entry, with_permissions))
        elif address and store.find_mailbox(address) is not None:
            messages.append(
                _delegate_message(
                    "ErrorNotDelegate", f"The user {address} is not a delegate for the mailbox."
                )
            )
        else:
            messages.append(
                _delegate_message(
                    "ErrorDelegateNoUser", "The delegate does not map to a user in the directory."
                )
            )
    fill_response_message(response, "NoError", None)
    response.set("ResponseClass", "Success")
    if messages:  # the schema wants at least one message inside ResponseMessages
        container = sub(response, m("ResponseMessages"))
        container.extend(messages)
    sub(response, m("DeliverMeetingRequests"), DELIVER_MEETING_REQUESTS)
    return response


def _user_smtp(ctx: Context, user: etree._Element) -> str | None:
    """The address a t:UserId names (by smtp address, or by the SID GetDelegate gave out)."""
    address = (user.findtext(t("PrimarySmtpAddress")) or "").strip().lower()
    if address:
        return address
    sid = (user.findtext(t("SID")) or "").strip()
    return next((smtp for smtp in ctx.store.mailboxes if sid and fake_sid(smtp) == sid), None)


def _delegate_error(response: etree._Element, code: str, text: str) -> etree._Element:
    response.set("ResponseClass", "Error")
    fill_response_message(response, code, text)
    return response


def _delegate_message(code: str, text: str | None = None) -> etree._Element:
    msg = make(m("DelegateUserResponseMessageType"))
    msg.set("ResponseClass", "Success" if code == "NoError" else "Error")
    fill_response_message(msg, code, text)
    return msg


def _delegate_user(
    ctx: Context, owner: Mailbox, entry: DelegateEntry, with_permissions: bool
) -> etree._Element:
    msg = _delegate_message("NoError")
    user = sub(msg, m("DelegateUser"))
    user_id = sub(user, t("UserId"))
    delegate = ctx.store.mailboxes.get(entry.smtp)
    sub(user_id, t("SID"), fake_sid(entry.smtp))
    sub(user_id, t("PrimarySmtpAddress"), entry.smtp)
    sub(user_id, t("DisplayName"), delegate.display_name if delegate else entry.smtp)
    if with_permissions:
        permissions = sub(user, t("DelegatePermissions"))
        calendar = ctx.store.folders[owner.calendar_id]
        levels = {"CalendarFolderPermissionLevel": _delegate_level(calendar.permissions, entry)}
        # The simulator has calendars only; the other delegatable folders are not shared.
        for name in _DELEGATE_FOLDERS:
            sub(permissions, t(name), levels.get(name, "None"))
    sub(
        user,
        t("ReceiveCopiesOfMeetingMessages"),
        xml_bool(entry.receive_copies_of_meeting_messages),
    )
    sub(user, t("ViewPrivateItems"), xml_bool(entry.view_private_items))
    return msg


def _delegate_level(permissions: dict[str, Level], entry: DelegateEntry) -> str:
    """What the calendar folder grants the delegate, in DelegateFolderPermissionLevel terms:
    Exchange reads it from the folder, so a level changed there shows here; levels the
    delegate dialog has no name for are "Custom"."""
    level = permissions.get(entry.smtp, Level.NONE)
    return {
        Level.NONE: "None",
        Level.REVIEWER: "Reviewer",
        Level.AUTHOR: "Author",
        Level.EDITOR: "Editor",
        Level.DELEGATE: "Editor",
    }.get(level, "Custom")
