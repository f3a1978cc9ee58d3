"""The Graph face's HTTP side: one request from `server._Handler` to `routes.dispatch`.

Authentication, as Graph answers it (Graph's "authorization and the Microsoft Graph
security API" and error reference; observed answers quoted in microsoftgraph SDK issues):
every request needs `Authorization: Bearer <token>`; without one, or with a token that is
unknown, expired or meant for another resource, Graph answers 401 `InvalidAuthenticationToken`
("Access token is empty." / "Access token has expired or is not yet valid." / "Invalid
audience.") with a `WWW-Authenticate: Bearer ...` challenge.

Throttling (Graph "throttling limits", Outlook service limits): per app per mailbox 10,000
requests per 10 minutes and 4 concurrent requests; beyond that 429 with `Retry-After` in
seconds, error code `ApplicationThrottled` ("Application is over its MailboxConcurrency
limit." for the concurrency limit, as Exchange Online words it in answers quoted on Microsoft
Q&A). `Simulator.throttle()` makes Graph requests answer 429 the same way, with its back-off
rounded up to whole seconds.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import batch, directory, events, schedule  # noqa: F401  (registers their routes)
from .routes import (
    GRAPH_AUDIENCE,
    GRAPH_PREFIX,
    Caller,
    GraphError,
    Request,
    Response,
    dispatch,
    error_body,
    normalise,
    operation_name,
    path_params,
)

if TYPE_CHECKING:
    from ..server import Simulator, _Handler

JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
_CHALLENGE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
    'authorize", client_id="00000003-0000-0000-c000-000000000000"'
)


class Unauthenticated(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def authenticate(sim: Simulator, header: str) -> Caller:
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Access token is empty.")
    provider = sim._identity_provider
    info = provider.validate_access_token(token) if provider is not None else None
    if info is None:
        raise Unauthenticated("Access token has expired or is not yet valid.")
    if info.audience.rstrip("/").lower() != GRAPH_AUDIENCE:
        raise Unauthenticated("Invalid audience.")
    if info.user:
        with sim.store.lock:
            mbx = sim.store.find_mailbox(info.user)
        user = mbx.smtp if mbx is not None else info.user.lower()
        return Caller(user, info.client_id, scopes=frozenset(info.scopes))
    return Caller(None, info.client_id, roles=frozenset(info.roles))


def principal(caller: Caller) -> str:
    return caller.user or f"app:{caller.app_id}"


def target_of(sim: Simulator, caller: Caller, path: str) -> str | None:
    """The mailbox a request acts on (lower-case smtp), for the log and concurrency."""
    user = path_params(normalise(path)).get("user")
    if user is None:
        return caller.user if path.lower().rstrip("/") == "/me" else None
    if user.lower() == "me":
        return caller.user
    with sim.store.lock:
        mbx = sim.store.find_mailbox(user) or next(
            (m for m in sim.store.mailboxes.values() if m.object_id.lower() == user.lower()),
            None,
        )
    return mbx.smtp if mbx is not None else user.lower()


def throttled(message: str, seconds: int) -> Response:
    return GraphError(
        429, "ApplicationThrottled", message, {"Retry-After": str(max(1, seconds))}
    ).response()


def answer(sim: Simulator, request: Request) -> Response:
    """Dispatch one request (top level or inside $batch), throttled on its own. The
    envelope of a $batch isn't throttled itself: its inner requests are, one by one."""
    is_batch = request.path.rstrip("/").lower() == "/$batch"
    back_off = None if is_batch else sim._take_throttle()
    if back_off is not None:
        return throttled(
            "Application is over its MailboxRequests limit.", math.ceil(back_off / 1000)
        )
    sim._run_before("graph:" + operation_name(request.method, request.path))
    try:
        with sim.store.lock:
            return dispatch(request)
    except Exception:  # a simulator bug: answer like Graph would, and keep the trace
        sim.internal_errors.append(traceback.format_exc())
        return GraphError(
            500, "InternalServerError", "An internal server error occurred."
        ).response()


@contextlib.contextmanager
def slot(sim: Simulator, key: tuple[str, str] | None) -> Iterator[bool]:
    """Hold one of the app's concurrent-request slots on a mailbox; yields False when all
    `graph_max_concurrency` are taken (the request is then refused, taking none)."""
    if key is None:
        yield True
        return
    with sim._graph_lock:
        busy = sim._graph_in_flight.get(key, 0)
        if busy >= sim.graph_max_concurrency:
            granted = False
        else:
            sim._graph_in_flight[key] = busy + 1
            granted = True
    try:
        yield granted
    finally:
        if granted:
            with sim._graph_lock:
                sim._graph_in_flight[key] -= 1


def parse_target(raw: str) -> tuple[str, dict[str, str]]:
    """ "/v1.0/users/x/calendarView?startDateTime=..." -> ("/users/x/calendarView", query)."""
    parts = urlsplit(raw)
    path = unquote(parts.path)
    if path.lower().startswith(GRAPH_PREFIX):
        path = path[len(GRAPH_PREFIX) :]
    return path or "/", dict(parse_qsl(parts.query, keep_blank_values=True))


def encode(response: Response) -> bytes:
    return b"" if response.body is None else json.dumps(response.body).encode()


def outcome(response: Response) -> str:
    if response.status < 400:
        return "NoError"
    if isinstance(response.body, dict) and isinstance(response.body.get("error"), dict):
        return str(response.body["error"].get("code", f"HTTP {response.status}"))
    return f"HTTP {response.status}"


def serve(handler: _Handler, method: str) -> None:
    sim = handler.server.sim
    started = time.monotonic()
    handler._delay_answer = 0.0
    raw_body = handler._read_body()
    path, query = parse_target(handler.path)
    name = "graph:" + (operation_name(method, path) or "unknown")
    caller: Caller | None = None
    target: str | None = None

    def record(result: str, status: int) -> None:
        from ..server import LogEntry

        sim._record(
            LogEntry(
                datetime.now(UTC),
                name,
                principal(caller) if caller else None,
                target,
                result,
                status,
                time.monotonic() - started + handler._delay_answer,
                "bearer" if caller else None,
                handler.headers.get("Host"),
            )
        )

    def send(response: Response) -> None:
        payload = encode(response)
        record(outcome(response), response.status)
        headers = [("request-id", _request_id(response)), *response.headers.items()]
        handler._send(response.status, payload, JSON_TYPE if payload else "text/plain", headers)

    if sim._take("drop_count"):
        record("dropped", 0)
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)
        return
    delay = sim._latency(name)
    try:
        caller = authenticate(sim, handler.headers.get("Authorization", ""))
    except Unauthenticated as exc:
        if delay:
            time.sleep(delay / 2)
            handler._delay_answer = delay / 2
        response = Response(
            401,
            error_body("InvalidAuthenticationToken", exc.message),
            {"WWW-Authenticate": _CHALLENGE},
        )
        send(response)
        return
    target = target_of(sim, caller, path)
    key = (caller.app_id, target) if target else None
    with slot(sim, key) as granted:
        # Latency is slept while holding the slot: that is what makes requests concurrent.
        if delay:
            time.sleep(delay / 2)
            handler._delay_answer = delay / 2
        if not granted:
            send(throttled("Application is over its MailboxConcurrency limit.", 1))
            return
        if sim._take("http_count"):
            status = sim._faults.http_status
            record(f"HTTP {status}", status)
            handler._send(status, b"Service Unavailable", "text/html")
            return
        try:
            body: Any = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            send(GraphError(400, "BadRequest", "Unable to read JSON request payload.").response())
            return
        headers = {key.lower(): value for key, value in handler.headers.items()}
        request = Request(method, path, query, headers, body, caller, sim)
        send(answer(sim, request))


def _request_id(response: Response) -> str:
    if isinstance(response.body, dict) and isinstance(response.body.get("error"), dict):
        inner = response.body["error"].get("innerError") or {}
        if inner.get("request-id"):
            return str(inner["request-id"])
    import uuid

    return str(uuid.uuid4())
