"""`POST /$batch`: JSON batching.

Looked up (microsoftgraph/microsoft-graph-docs-contrib, concepts/json-batching.md): the body
is {"requests": [{id, method, url (relative to the version, "/users/..."), headers, body}]},
at most 20 of them (more: 400); the answer is 200 with {"responses": [{id, status, headers,
body}]}, in any order. Each inner request is authorised and throttled on its own, so a
successful batch can hold inner 429s.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from .routes import GraphError, Params, Request, Response, route

MAX_REQUESTS = 20


@route("POST", "/$batch")
def batch(request: Request, params: Params) -> Response:
    from .http import answer, parse_target

    body = request.body if isinstance(request.body, dict) else {}
    inner = body.get("requests")
    if not isinstance(inner, list) or not inner:
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    if len(inner) > MAX_REQUESTS:
        raise GraphError(
            400, "BadRequest", f"The number of batch requests exceeds the limit of {MAX_REQUESTS}."
        )
    ids = [str(entry.get("id", "")) for entry in inner if isinstance(entry, dict)]
    if len(ids) != len(inner) or len(set(ids)) != len(ids) or "" in ids:
        raise GraphError(400, "BadRequest", "Batch request ids must be present and unique.")
    responses: list[dict[str, Any]] = []
    for entry in inner:
        url = str(entry.get("url", ""))
        path, query = parse_target(url if url.startswith("/") else "/" + url)
        headers = {str(k).lower(): str(v) for k, v in (entry.get("headers") or {}).items()}
        sub = Request(
            str(entry.get("method", "GET")).upper(),
            path,
            query,
            headers,
            entry.get("body"),
            request.caller,
            request.sim,
        )
        started = time.monotonic()
        answered = answer(request.sim, sub)
        _log(request, sub, answered, time.monotonic() - started)
        responses.append(
            {
                "id": entry["id"],
                "status": answered.status,
                "headers": {"Content-Type": "application/json", **answered.headers},
                "body": answered.body,
            }
        )
    return Response(200, {"responses": responses})


def _log(outer: Request, inner: Request, answered: Response, duration: float) -> None:
    """Each inner request goes into the simulator's log too, as its own operation."""
    from ..server import LogEntry
    from .http import outcome, principal, target_of
    from .routes import operation_name

    outer.sim._record(
        LogEntry(
            datetime.now(UTC),
            "graph:" + (operation_name(inner.method, inner.path) or "unknown"),
            principal(inner.caller),
            target_of(inner.sim, inner.caller, inner.path),
            outcome(answered),
            answered.status,
            duration,
            "bearer",
            outer.headers.get("host"),
        )
    )
