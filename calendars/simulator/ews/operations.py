"""EWS operation dispatch and what every operation shares: the request context and how folder
ids in a request resolve to folders the caller may (or may not) see.

The operations themselves live in ops_folders, ops_items, ops_availability and ops_misc; each
takes the request's body element and returns the ``m:<Op>Response`` element.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo

from lxml import etree

from ..model import Folder, SentMail, Store
from ..permissions import RIGHTS, Level, Rights, rights_for
from .soap import M_NS, EWSError, t


@dataclass
class Context:
    """Who is asking, on whose behalf, and in which time zone."""

    store: Store
    caller: str  # lower-case smtp whose rights apply (the impersonated user when impersonating)
    anchor: str | None  # X-AnchorMailbox, lower case
    tz: tzinfo  # from t:TimeZoneContext; naive request times are local to it
    on_sent: Callable[[SentMail], None]
    targets: list[str] = field(default_factory=list)  # mailboxes touched, for the request log

    def touch(self, smtp: str) -> None:
        if smtp not in self.targets:
            self.targets.append(smtp)


Operation = Callable[[Context, etree._Element], etree._Element]


def operations() -> dict[str, Operation]:
    """Operation name (the request element's local name) -> implementation."""
    from . import ops_availability, ops_folders, ops_items, ops_misc, ops_sync

    return {
        "GetFolder": ops_folders.get_folder,
        "FindFolder": ops_folders.find_folder,
        "FindItem": ops_items.find_item,
        "GetItem": ops_items.get_item,
        "CreateItem": ops_items.create_item,
        "UpdateItem": ops_items.update_item,
        "DeleteItem": ops_items.delete_item,
        "SyncFolderItems": ops_sync.sync_folder_items,
        "GetServerTimeZones": ops_availability.get_server_time_zones,
        "GetUserAvailabilityRequest": ops_availability.get_user_availability,
        "ResolveNames": ops_misc.resolve_names,
        "ConvertId": ops_misc.convert_id,
        "GetDelegate": ops_misc.get_delegate,
    }


def operation_name(request: etree._Element) -> str:
    """The name exchangelib and the log use: GetUserAvailabilityRequest -> GetUserAvailability."""
    name = etree.QName(request).localname
    return name.removesuffix("Request") if etree.QName(request).namespace == M_NS else name


def mailbox_address(elem: etree._Element | None) -> str | None:
    """The smtp address in a t:Mailbox (EmailAddress) child, if any."""
    if elem is None:
        return None
    address = elem.findtext(t("EmailAddress"))
    return address.strip().lower() if address else None


def check_id(value: str | None) -> None:
    """Refuse ids that can't be an Exchange id at all, before looking anything up.

    Exchange ids are base64 of a binary structure: an empty Id is ErrorInvalidIdEmpty and
    anything that doesn't decode to such a structure is ErrorInvalidIdMalformed (exchangelib's
    own tests against Exchange: id "XXX" on GetFolder, "AAAA==" on DeleteItem). Only an id
    that is well formed but names nothing is ErrorItemNotFound / ErrorFolderNotFound.
    """
    if not value:
        raise EWSError("ErrorInvalidIdEmpty", "Id is empty.")
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raw = b""
    if len(raw) < _MIN_ID_BYTES:
        raise EWSError("ErrorInvalidIdMalformed", "Id is malformed.")


# The simulator's ids (model.new_id) decode to 20 bytes, Exchange's to well over 40.
_MIN_ID_BYTES = 16


def resolve_folder(ctx: Context, elem: etree._Element) -> Folder:
    """A t:FolderId or t:DistinguishedFolderId (optionally with t:Mailbox) -> Folder.

    Distinguished ids without a mailbox mean the caller's own mailbox, as in Exchange.
    """
    store = ctx.store
    tag = etree.QName(elem).localname
    if tag == "FolderId":
        check_id(elem.get("Id"))
        folder = store.folders.get(elem.get("Id", ""))
        if folder is None:
            raise EWSError(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            )
        ctx.touch(folder.mailbox)
        return folder
    if tag == "DistinguishedFolderId":
        smtp = mailbox_address(elem.find(t("Mailbox"))) or ctx.caller
        if smtp not in store.mailboxes:
            raise EWSError(
                "ErrorNonExistentMailbox",
                f"The SMTP address has no mailbox associated with it. {smtp}",
            )
        ctx.touch(smtp)
        folder = store.distinguished(smtp, elem.get("Id", ""))
        if folder is None:
            raise EWSError(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            )
        return folder
    raise EWSError("ErrorInvalidIdMalformed", f"Unsupported folder id element {tag}.")


def folder_rights(ctx: Context, folder: Folder) -> Rights:
    """The caller's rights on a folder.

    Folders other than calendars (the root and the top of the information store) carry no
    permissions of their own here. When Outlook or Exchange set up a delegate or share a
    calendar with Reviewer or more, they also make the mailbox's top folders visible to the
    grantee; mirror that so exchangelib's `account.root` / `account.calendar` work for
    delegates, while a free/busy-only user is refused with ErrorAccessDenied as on Exchange.
    """
    store = ctx.store
    owner = store.mailboxes.get(folder.mailbox)
    if owner is not None and ctx.caller in owner.full_access:
        # FullAccess on the mailbox opens every folder whatever its own permissions say.
        return RIGHTS[Level.OWNER]
    if folder.is_calendar:
        return rights_for(folder.permissions, folder.mailbox, ctx.caller)
    if folder.mailbox == ctx.caller:
        return RIGHTS[Level.OWNER]
    if folder.distinguished == "deleteditems":
        # Sharing a calendar or adding a delegate shares no mail folder: what the owner
        # deleted stays private unless they grant access to Deleted Items themselves.
        return RIGHTS[Level.NONE]
    sees_a_calendar = any(
        rights_for(cal.permissions, cal.mailbox, ctx.caller).is_folder_visible
        for cal in store.calendars(folder.mailbox)
    )
    return Rights(is_folder_visible=True) if sees_a_calendar else RIGHTS[Level.NONE]


def access_denied() -> EWSError:
    return EWSError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def require_visible(ctx: Context, folder: Folder) -> Rights:
    rights = folder_rights(ctx, folder)
    if not rights.is_folder_visible:
        raise access_denied()
    return rights


def require_read_items(ctx: Context, folder: Folder) -> Rights:
    """FindItem/GetItem need full read access; free/busy-only levels are refused."""
    rights = folder_rights(ctx, folder)
    if rights.read_items != "FullDetails":
        raise access_denied()
    return rights
