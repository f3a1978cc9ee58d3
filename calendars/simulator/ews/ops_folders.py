"""GetFolder and FindFolder.

Folders are always returned with the properties exchangelib asks for on a calendar (ids,
class, name, counts, EffectiveRights and, on calendars, SharingEffectiveRights and the
PermissionSet) regardless of the requested shape; extra properties are legal and harmless.
"""

from __future__ import annotations

import hashlib

from lxml import etree

from ..model import Folder
from ..permissions import ANONYMOUS, DEFAULT, RIGHTS, Level, effective_rights
from .operations import Context, folder_rights, require_visible, resolve_folder
from .restrictions import FOLDER_FIELDS, check, folder_matches
from .soap import EWSError, children, error_message, m, make, response_message, sub, t, xml_bool


def get_folder(ctx: Context, request: etree._Element) -> etree._Element:
    response = make(m("GetFolderResponse"))
    messages = sub(response, m("ResponseMessages"))
    for ref in children(request, m("FolderIds")):
        try:
            folder = resolve_folder(ctx, ref)
            require_visible(ctx, folder)
            msg = response_message("GetFolder")
            sub(msg, m("Folders")).append(folder_xml(ctx, folder))
        except EWSError as err:
            msg = error_message("GetFolder", err)
        messages.append(msg)
    return response


def find_folder(ctx: Context, request: etree._Element) -> etree._Element:
    deep = request.get("Traversal", "Shallow") == "Deep"
    view = request.find(m("IndexedPageFolderView"))
    offset = int(view.get("Offset", "0")) if view is not None else 0
    max_entries = int(view.get("MaxEntriesReturned", "0") or 0) if view is not None else 0
    restriction = request.find(m("Restriction"))
    expr = (
        next((c for c in restriction if isinstance(c.tag, str)), None)
        if restriction is not None
        else None
    )
    response = make(m("FindFolderResponse"))
    messages = sub(response, m("ResponseMessages"))
    for ref in children(request, m("ParentFolderIds")):
        try:
            parent = resolve_folder(ctx, ref)
            require_visible(ctx, parent)
            store = ctx.store
            if expr is not None:
                check(expr, FOLDER_FIELDS)  # refused whether or not anything would match
            found = store.descendants(parent.id) if deep else store.children(parent.id)
            # Like Exchange, folders the caller cannot see are simply not listed.
            visible = [f for f in found if folder_rights(ctx, f).is_folder_visible]
            if expr is not None:
                visible = [f for f in visible if folder_matches(f, store, expr)]
            page = visible[offset : offset + max_entries] if max_entries else visible[offset:]
            msg = response_message("FindFolder")
            last = offset + len(page) >= len(visible)
            root = sub(
                msg,
                m("RootFolder"),
                IndexedPagingOffset=str(offset + len(page)),
                TotalItemsInView=str(len(visible)),
                IncludesLastItemInRange=xml_bool(last),
            )
            folders = sub(root, t("Folders"))
            for folder in page:
                folders.append(folder_xml(ctx, folder))
        except EWSError as err:
            msg = error_message("FindFolder", err)
        messages.append(msg)
    return response


def folder_xml(ctx: Context, folder: Folder) -> etree._Element:
    """A t:CalendarFolder for calendars, a t:Folder otherwise, in schema element order."""
    store = ctx.store
    rights = folder_rights(ctx, folder)
    elem = make(t("CalendarFolder") if folder.is_calendar else t("Folder"))
    sub(elem, t("FolderId"), Id=folder.id, ChangeKey=folder.change_key)
    if folder.parent_id:
        parent = store.folders[folder.parent_id]
        sub(elem, t("ParentFolderId"), Id=parent.id, ChangeKey=parent.change_key)
    if folder.folder_class:
        sub(elem, t("FolderClass"), folder.folder_class)
    sub(elem, t("DisplayName"), folder.name)
    sub(elem, t("TotalCount"), str(len(folder.items)))
    sub(elem, t("ChildFolderCount"), str(len(store.children(folder.id))))
    eff = effective_rights(rights)
    rights_elem = sub(elem, t("EffectiveRights"))
    for name, value in (
        ("CreateAssociated", eff.create_associated),
        ("CreateContents", eff.create_contents),
        ("CreateHierarchy", eff.create_hierarchy),
        ("Delete", eff.delete),
        ("Modify", eff.modify),
        ("Read", eff.read),
        ("ViewPrivateItems", eff.view_private_items),
    ):
        sub(rights_elem, t(name), xml_bool(value))
    if folder.distinguished:
        sub(elem, t("DistinguishedFolderId"), folder.distinguished)
    if folder.is_calendar:
        sub(elem, t("SharingEffectiveRights"), rights.read_items)
        elem.append(calendar_permission_set(ctx, folder))
    else:
        sub(elem, t("UnreadCount"), "0")
    return elem


def calendar_permission_set(ctx: Context, folder: Folder) -> etree._Element:
    """The folder's ACL as Exchange lists it: Default, Anonymous, then named users."""
    perm_set = make(t("PermissionSet"))
    perms = sub(perm_set, t("CalendarPermissions"))
    entries: list[tuple[str, Level]] = [
        (DEFAULT, folder.permissions.get(DEFAULT, Level.NONE)),
        (ANONYMOUS, folder.permissions.get(ANONYMOUS, Level.NONE)),
    ]
    entries += [(g, lvl) for g, lvl in folder.permissions.items() if g not in (DEFAULT, ANONYMOUS)]
    for grantee, level in entries:
        rights = RIGHTS[level]
        perm = sub(perms, t("CalendarPermission"))
        user = sub(perm, t("UserId"))
        if grantee in (DEFAULT, ANONYMOUS):
            sub(user, t("DistinguishedUser"), grantee.capitalize())
        else:
            mbx = ctx.store.mailboxes.get(grantee)
            sub(user, t("SID"), fake_sid(grantee))
            sub(user, t("PrimarySmtpAddress"), grantee)
            sub(user, t("DisplayName"), mbx.display_name if mbx else grantee)
        sub(perm, t("CanCreateItems"), xml_bool(rights.can_create_items))
        sub(perm, t("CanCreateSubFolders"), xml_bool(rights.can_create_subfolders))
        sub(perm, t("IsFolderOwner"), xml_bool(rights.is_folder_owner))
        sub(perm, t("IsFolderVisible"), xml_bool(rights.is_folder_visible))
        sub(perm, t("IsFolderContact"), xml_bool(rights.is_folder_contact))
        sub(perm, t("EditItems"), rights.edit_items)
        sub(perm, t("DeleteItems"), rights.delete_items)
        sub(perm, t("ReadItems"), rights.read_items)
        sub(perm, t("CalendarPermissionLevel"), level.wire_name)
    return perm_set


def fake_sid(smtp: str) -> str:
    """A stable, Windows-looking SID per user (Exchange lists grantees with their SID)."""
    digest = hashlib.sha256(smtp.encode()).digest()
    parts = [int.from_bytes(digest[i : i + 4], "big") for i in (0, 4, 8, 12)]
    return f"S-1-5-21-{parts[0]}-{parts[1]}-{parts[2]}-{1000 + parts[3] % 100000}"
