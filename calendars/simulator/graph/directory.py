"""Users, calendars, calendar groups and calendar permissions.

Looked up (microsoftgraph/microsoft-graph-docs-contrib, v1.0 user-get.md, user-list-calendars.md,
calendar.md, calendarpermission.md, calendarpermission-list.md):

- `GET /me` needs delegated `User.Read`; `/users/{id | userPrincipalName}` needs
  `User.ReadBasic.All`/`User.Read.All` (a user may always read themselves with `User.Read`);
  app-only needs `User.Read.All`. Too few privileges: 403 `Authorization_RequestDenied`
  "Insufficient privileges to complete the operation."; an unknown user: 404
  `Request_ResourceNotFound`.
- calendar: id, name, color, hexColor, isDefaultCalendar, changeKey, canShare,
  canViewPrivateItems, canEdit, allowedOnlineMeetingProviders, defaultOnlineMeetingProvider,
  isTallyingResponses, isRemovable, owner {name, address}.
- calendarPermission roles: none, freeBusyRead, limitedRead, read, write,
  delegateWithoutPrivateEventAccess, delegateWithPrivateEventAccess, custom; the entry for
  the organisation is "My Organization" (isRemovable false). Only the owner (or an app) can
  list them; a sharee gets an empty collection.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from ..model import Folder, Mailbox
from ..permissions import DEFAULT, Level
from . import access
from .render import email_address, graph_id, user_json
from .routes import GraphError, Params, Request, Response, route

_USER_READ_ALL = ("User.ReadBasic.All", "User.Read.All", "Directory.Read.All")


def _insufficient() -> GraphError:
    return GraphError(
        403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
    )


def _context(request: Request, path: str) -> str:
    return f"{request.sim.graph_url}/$metadata#{path}"


@route("GET", "/me")
def get_me(request: Request, params: Params) -> Response:
    caller = request.caller
    if caller.is_app_only:
        raise GraphError(
            400, "BadRequest", "/me request is only valid with delegated authentication flow."
        )
    if not ({"User.Read", *_USER_READ_ALL} & caller.scopes):
        raise _insufficient()
    mbx = request.store.find_mailbox(caller.user or "")
    if mbx is None:
        raise GraphError(
            404, "Request_ResourceNotFound", f"Resource '{caller.user}' does not exist."
        )
    return Response(200, {"@odata.context": _context(request, "users/$entity"), **user_json(mbx)})


@route("GET", "/users/{user}")
def get_user(request: Request, params: Params) -> Response:
    caller, wanted = request.caller, params["user"]
    store = request.store
    mbx = store.find_mailbox(wanted) or next(
        (m for m in store.mailboxes.values() if m.object_id.lower() == wanted.lower()), None
    )
    is_self = mbx is not None and mbx.smtp == (caller.user or "").lower()
    if caller.is_app_only:
        allowed = bool({"User.Read.All", "Directory.Read.All"} & caller.roles)
    else:
        allowed = bool(set(_USER_READ_ALL) & caller.scopes) or (
            is_self and "User.Read" in caller.scopes
        )
    if not allowed:
        raise _insufficient()
    if mbx is None:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{wanted}' does not exist or one of its queried reference-property "
            "objects are not present.",
        )
    return Response(200, {"@odata.context": _context(request, "users/$entity"), **user_json(mbx)})


# ------------------------------------------------------------------------ calendars


def calendar_json(request: Request, folder: Folder) -> dict[str, Any]:
    store = request.store
    owner = store.mailboxes[folder.mailbox]
    granted = access.rights(request, folder)
    is_owner = request.caller.is_app_only or folder.mailbox == (request.caller.user or "")
    return {
        "id": graph_id(folder.id),
        "name": folder.name,
        "color": "auto",
        "hexColor": "",
        "isDefaultCalendar": folder.id == owner.calendar_id and is_owner,
        "changeKey": folder.change_key,
        "canShare": is_owner,
        "canViewPrivateItems": access.sees_private(request, folder),
        "canEdit": granted.can_create_items,
        "allowedOnlineMeetingProviders": ["teamsForBusiness"],
        "defaultOnlineMeetingProvider": "teamsForBusiness",
        "isTallyingResponses": True,
        "isRemovable": folder.id != owner.calendar_id,
        "owner": {"name": owner.display_name, "address": owner.smtp},
    }


def _visible_calendars(request: Request, mbx: Mailbox) -> list[Folder]:
    return [
        folder
        for folder in request.store.calendars(mbx.smtp)
        if access.rights(request, folder).is_folder_visible
    ]


def _shared_with_me(request: Request) -> list[Folder]:
    """Other people's calendars the signed-in user was given Reviewer or more on (or is a
    delegate of), which Outlook adds to their calendar list and Graph lists in /me/calendars."""
    me = (request.caller.user or "").lower()
    store = request.store
    shared = []
    for owner in store.mailboxes.values():
        if owner.smtp == me or owner.on_premises:
            continue
        for folder in store.calendars(owner.smtp):
            explicit = folder.permissions.get(me)
            if explicit is not None and access.rights(request, folder).is_folder_visible:
                shared.append(folder)
    return shared


def _collection(request: Request, path: str, values: list[dict[str, Any]]) -> Response:
    return Response(200, {"@odata.context": _context(request, path), "value": values})


@route("GET", "/users/{user}/calendars")
def list_calendars(request: Request, params: Params) -> Response:
    mbx = access.calendar_mailbox(request, params["user"])
    folders = _visible_calendars(request, mbx)
    if not folders:
        raise access.access_denied()
    is_me = mbx.smtp == (request.caller.user or "").lower()
    shares = any(s.endswith(".Shared") for s in request.caller.scopes)
    if is_me and not request.caller.is_app_only and shares:
        folders = folders + _shared_with_me(request)
    return _collection(
        request,
        f"users('{mbx.smtp}')/calendars",
        [calendar_json(request, f) for f in folders],
    )


@route("GET", "/users/{user}/calendar")
def get_primary_calendar(request: Request, params: Params) -> Response:
    mbx = access.calendar_mailbox(request, params["user"])
    folder = access.calendar(request, mbx, None)
    if not access.rights(request, folder).is_folder_visible:
        raise access.access_denied()
    return Response(200, calendar_json(request, folder))


@route("GET", "/users/{user}/calendars/{calendar}")
def get_calendar(request: Request, params: Params) -> Response:
    mbx = access.calendar_mailbox(request, params["user"])
    folder = access.calendar(request, mbx, params["calendar"])
    if not access.rights(request, folder).is_folder_visible:
        raise access.access_denied()
    return Response(200, calendar_json(request, folder))


def _group_id(mbx: Mailbox) -> str:
    """Every mailbox has the one calendar group Outlook calls "My Calendars"."""
    raw = b"\x00\x00G" + uuid.UUID(mbx.object_id).bytes + b"\x00"
    return graph_id(base64.b64encode(raw).decode())


@route("GET", "/users/{user}/calendarGroups")
def list_calendar_groups(request: Request, params: Params) -> Response:
    mbx = access.calendar_mailbox(request, params["user"])
    if not _visible_calendars(request, mbx):
        raise access.access_denied()
    group = {
        "id": _group_id(mbx),
        "name": "My Calendars",
        "classId": "0006f0b7-0000-0000-c000-000000000046",
        "changeKey": mbx.calendar_id[:12],
    }
    return _collection(request, f"users('{mbx.smtp}')/calendarGroups", [group])


@route("GET", "/users/{user}/calendarGroups/{group}/calendars")
def list_group_calendars(request: Request, params: Params) -> Response:
    mbx = access.calendar_mailbox(request, params["user"])
    if params["group"] != _group_id(mbx):
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    return list_calendars(request, {"user": params["user"]})


# ------------------------------------------------------------------------ permissions

_ROLE = {
    Level.NONE: "none",
    Level.FREE_BUSY_TIME_ONLY: "freeBusyRead",
    Level.FREE_BUSY_TIME_AND_SUBJECT_AND_LOCATION: "limitedRead",
    Level.REVIEWER: "read",
    Level.EDITOR: "write",
    Level.DELEGATE: "delegateWithPrivateEventAccess",
}
_ALLOWED_ROLES = ["none", "freeBusyRead", "limitedRead", "read", "write"]


def role_for(mbx: Mailbox, grantee: str, level: Level) -> str:
    delegate = next((d for d in mbx.delegates if d.smtp == grantee), None)
    if delegate is not None and level in (Level.EDITOR, Level.DELEGATE):
        return (
            "delegateWithPrivateEventAccess"
            if delegate.view_private_items or level is Level.DELEGATE
            else "delegateWithoutPrivateEventAccess"
        )
    return _ROLE.get(level, "custom")


@route("GET", "/users/{user}/calendars/{calendar}/calendarPermissions")
def list_calendar_permissions(request: Request, params: Params) -> Response:
    mbx = access.calendar_mailbox(request, params["user"])
    folder = access.calendar(request, mbx, params["calendar"])
    return _permissions(request, mbx, folder)


@route("GET", "/users/{user}/calendar/calendarPermissions")
def list_primary_calendar_permissions(request: Request, params: Params) -> Response:
    mbx = access.calendar_mailbox(request, params["user"])
    return _permissions(request, mbx, access.calendar(request, mbx, None))


def _permissions(request: Request, mbx: Mailbox, folder: Folder) -> Response:
    owner = request.store.mailboxes[folder.mailbox]
    path = f"users('{mbx.smtp}')/calendars('{graph_id(folder.id)}')/calendarPermissions"
    is_owner = request.caller.is_app_only or folder.mailbox == (request.caller.user or "")
    if not is_owner:
        if not access.rights(request, folder).is_folder_visible:
            raise access.access_denied()
        return _collection(request, path, [])
    entries = []
    for grantee, level in folder.permissions.items():
        if grantee == "anonymous":
            continue
        if grantee == DEFAULT:
            who = {"name": "My Organization"}
            removable = False
        else:
            target = request.store.mailboxes.get(grantee)
            who = email_address(grantee, target.display_name if target else grantee)["emailAddress"]
            removable = True
        role = role_for(owner, grantee, level)
        entries.append(
            {
                "id": graph_id(base64.b64encode(f"{folder.id}:{grantee}".encode()).decode()),
                "isRemovable": removable,
                "isInsideOrganization": True,
                "role": role,
                "allowedRoles": _ALLOWED_ROLES
                + (
                    ["delegateWithoutPrivateEventAccess", "delegateWithPrivateEventAccess"]
                    if grantee != DEFAULT
                    else []
                ),
                "emailAddress": who,
            }
        )
    return _collection(request, path, entries)
