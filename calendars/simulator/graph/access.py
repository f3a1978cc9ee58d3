"""Who may reach which mailbox and calendar over Graph.

Graph's permission model (Graph permissions reference; "RBAC for Applications in Exchange
Online"): a delegated token acts as the signed-in user and needs `Calendars.Read` or
`Calendars.ReadWrite` for their own calendars, and the `.Shared` variants to reach calendars
other users share or delegate to them; within that, the owner's folder permissions decide
(the same levels as over EWS). An app-only token needs the application role
`Calendars.Read`/`Calendars.ReadWrite` and reaches every mailbox, unless Exchange's RBAC for
Applications scopes the app (here `store.app_scopes[client_id]`). Mailboxes hosted on the
organisation's own Exchange Server are out of Graph's reach: MailboxNotEnabledForRESTAPI,
which Graph sends with HTTP 404.
"""

from __future__ import annotations

from datetime import UTC

from ..ews.operations import Context, folder_rights
from ..model import Folder, Mailbox
from ..permissions import RIGHTS, Level, Rights
from .render import store_id
from .routes import GraphError, Request

READ = ("Calendars.Read", "Calendars.ReadWrite")
WRITE = ("Calendars.ReadWrite",)


def access_denied() -> GraphError:
    return GraphError(
        403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
    )


def mailbox(request: Request, user: str) -> Mailbox:
    """`/users/{user}` (object id, UPN or smtp) or `/me` -> the mailbox, for calendar calls."""
    caller = request.caller
    if user.lower() == "me":
        if caller.is_app_only:
            raise GraphError(
                400,
                "BadRequest",
                "/me request is only valid with delegated authentication flow.",
            )
        user = caller.user or ""
    store = request.store
    found = store.find_mailbox(user) or next(
        (m for m in store.mailboxes.values() if m.object_id.lower() == user.lower()), None
    )
    if found is None:
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
    return found


def calendar_mailbox(request: Request, user: str, *, write: bool = False) -> Mailbox:
    """The mailbox a calendar call acts on, once the token may reach it at all."""
    mbx = mailbox(request, user)
    require_scope(request, mbx, write=write)
    if mbx.on_premises:
        raise GraphError(
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    return mbx


def require_scope(request: Request, mbx: Mailbox, *, write: bool = False) -> None:
    caller = request.caller
    names = WRITE if write else READ
    if caller.is_app_only:
        if not any(role in caller.roles for role in names):
            raise access_denied()
        scope = request.store.app_scopes.get(caller.app_id)
        if scope is not None and mbx.smtp not in {s.lower() for s in scope}:
            raise access_denied()
        return
    own = mbx.smtp == (caller.user or "").lower()
    wanted = [f"{name}.Shared" for name in names] + (list(names) if own else [])
    if not any(scope in caller.scopes for scope in wanted):
        raise access_denied()


def context(request: Request) -> Context:
    """An EWS-style context for the store's rights rules (folder_rights)."""
    return Context(request.store, (request.caller.user or "").lower(), None, UTC, lambda _: None)


def rights(request: Request, folder: Folder) -> Rights:
    """The caller's rights on a calendar: app-only tokens act with the owner's rights."""
    if request.caller.is_app_only:
        return RIGHTS[Level.OWNER]
    return folder_rights(context(request), folder)


def calendar(
    request: Request, mbx: Mailbox, calendar_id: str | None, *, write: bool = False
) -> Folder:
    """A calendar by Graph id (None: the primary one). A calendar shared with the caller is
    reachable by its id under /me too, as entries of /me/calendars are."""
    store = request.store
    if calendar_id is None:
        return store.folders[mbx.calendar_id]
    folder = store.folders.get(store_id(calendar_id))
    if folder is None or not folder.is_calendar:
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    if folder.mailbox != mbx.smtp:
        caller_is_target = mbx.smtp == (request.caller.user or "").lower()
        if not caller_is_target:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        owner = store.mailboxes[folder.mailbox]
        require_scope(request, owner, write=write)
        if owner.on_premises:
            raise GraphError(
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            )
    return folder


def require_read(request: Request, folder: Folder) -> Rights:
    """Reading events needs full read access; free/busy-only callers get ErrorAccessDenied."""
    granted = rights(request, folder)
    if granted.read_items != "FullDetails":
        raise access_denied()
    return granted


def sees_private(request: Request, folder: Folder) -> bool:
    if request.caller.is_app_only:
        return True
    owner = request.store.mailboxes[folder.mailbox]
    caller = (request.caller.user or "").lower()
    if caller in owner.full_access:
        return True
    if any(d.smtp == caller and d.view_private_items for d in owner.delegates):
        return True
    return rights(request, folder).view_private_items
