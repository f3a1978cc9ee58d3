"""The Graph face's plumbing: one request, its caller, Graph's error shape, the route table.

Each module of the face registers its handlers with `@route(method, template)`; the HTTP
server parses the request, authenticates it (a Bearer token of the identity provider for
the `https://graph.microsoft.com` audience) and calls `dispatch`. `$batch` dispatches its
inner requests through the same table, so each is authorised and throttled on its own, as
Graph does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..model import Store, StoreError

if TYPE_CHECKING:
    from ..server import Simulator

GRAPH_PREFIX = "/v1.0"
GRAPH_AUDIENCE = "https://graph.microsoft.com"


@dataclass(frozen=True)
class Caller:
    """Who is calling: a signed-in user (delegated token) or an application (app-only)."""

    user: str | None  # lower-case smtp of the signed-in user; None for app-only tokens
    app_id: str
    scopes: frozenset[str] = frozenset()  # delegated permissions: "Calendars.ReadWrite.Shared"
    roles: frozenset[str] = frozenset()  # application permissions: "Calendars.ReadWrite"

    @property
    def is_app_only(self) -> bool:
        return self.user is None


@dataclass
class Request:
    method: str  # upper case
    path: str  # below /v1.0, without the query: "/users/alice@contoso.example/calendars"
    query: dict[str, str]  # decoded; OData names keep their "$" ("$top")
    headers: dict[str, str]  # lower-case names
    body: Any  # the parsed JSON body, or None
    caller: Caller
    sim: Simulator

    @property
    def store(self) -> Store:
        return self.sim.store

    def prefers(self, name: str) -> str | None:
        """One preference of the `Prefer` header (`outlook.timezone`, `IdType`,
        `odata.maxpagesize`), unquoted, or None."""
        for part in self.headers.get("prefer", "").split(","):
            key, _, value = part.strip().partition("=")
            if key.strip().lower() == name.lower():
                return value.strip().strip('"')
        return None


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-serialisable, or None for an empty answer (204)
    headers: dict[str, str] = field(default_factory=dict)


class GraphError(Exception):
    """An error answer in Graph's shape: HTTP status plus `error.code` and `error.message`."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def response(self) -> Response:
        return Response(self.status, error_body(self.code, self.message), dict(self.headers))


def error_body(code: str, message: str) -> dict[str, Any]:
    """Graph's error object (every v1.0 error has it, whatever the status)."""
    request_id = str(uuid.uuid4())
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": request_id,
            },
        }
    }


# The store speaks Exchange's response codes; over Graph the same refusals come back with
# these statuses (Exchange Online keeps the EWS-style code in error.code for calendar calls:
# ErrorItemNotFound, ErrorAccessDenied, ErrorInvalidIdMalformed).
_STORE_STATUS = {
    "ErrorItemNotFound": 404,
    "ErrorFolderNotFound": 404,
    "ErrorAccessDenied": 403,
    "ErrorInvalidIdMalformed": 400,
    "ErrorInvalidRequest": 400,
    "ErrorInvalidOperation": 400,
}


def from_store(error: StoreError) -> GraphError:
    return GraphError(_STORE_STATUS.get(error.code, 400), error.code, error.message)


Params = dict[str, str]
Handler = Callable[[Request, Params], Response]
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, template: str) -> Callable[[Handler], Handler]:
    """Register a handler for `template` ("/users/{user}/calendars/{calendar}"). Literal
    segments match case-insensitively, as Graph's do; each `{name}` is one path segment.
    The handler's name in camel case ("get_schedule" -> "getSchedule") names the operation
    in the simulator's log ("graph:getSchedule") and for per-operation latency."""
    pattern = re.sub(
        r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(template.rstrip("/"))
    )
    compiled = re.compile(f"^{pattern}/?$", re.IGNORECASE)

    def register(handler: Handler) -> Handler:
        _ROUTES.append((method.upper(), compiled, handler))
        return handler

    return register


def operation_name(method: str, path: str) -> str:
    """The operation a request would reach ("getSchedule"), or "" when no route matches."""
    path = normalise(path)
    for registered, pattern, handler in _ROUTES:
        if registered == method.upper() and pattern.match(path):
            head, *rest = handler.__name__.split("_")
            return head + "".join(word.capitalize() for word in rest)
    return ""


def path_params(path: str) -> Params:
    """The `{name}` values of the first route matching `path` (any method)."""
    path = normalise(path)
    for _, pattern, _ in _ROUTES:
        found = pattern.match(path)
        if found is not None:
            return found.groupdict()
    return {}


def normalise(path: str) -> str:
    """`/me/...` is `/users/{signed-in user}/...`: route it as `/users/me/...`."""
    if path.lower().startswith("/me/"):
        return "/users/me" + path[3:]
    return path


def dispatch(request: Request) -> Response:
    """Answer one request (top-level or inside a $batch)."""
    request.path = normalise(request.path)
    matched_path = False
    for method, pattern, handler in _ROUTES:
        found = pattern.match(request.path)
        if found is None:
            continue
        matched_path = True
        if method != request.method:
            continue
        try:
            return handler(request, found.groupdict())
        except GraphError as err:
            return err.response()
        except StoreError as err:
            return from_store(err).response()
    if matched_path:
        return GraphError(
            405, "Request_BadRequest", f"The HTTP method '{request.method}' is not allowed."
        ).response()
    segment = request.path.strip("/").split("/")[-1] if request.path.strip("/") else ""
    return GraphError(
        400, "BadRequest", f"Resource not found for the segment '{segment}'."
    ).response()
