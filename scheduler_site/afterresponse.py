"""Work that can wait until the response has been sent.

Some of what a request does matters to nobody waiting for it, such as the sync log rows of
the Exchange calls it made. Inside a request, `later(fn)` runs `fn` once the response is on
its way: the WSGI server calls the response's `close()` after it wrote the body (gunicorn
does; so does Django's test client), and the queued work runs there, still in the request's
thread and on its database connection. Outside a request (Celery tasks, management
commands) `fn` runs at once.

Deferred work must not raise (each job is run on its own and a failure is logged), and
nothing a later step of the same request reads may depend on it.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase

log = logging.getLogger(__name__)

_queue: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "after_response", default=None
)


def later(fn: Callable[[], None]) -> None:
    """Run `fn` after the current response has been sent (at once outside a request)."""
    queue = _queue.get()
    if queue is None:
        fn()
    else:
        queue.append(fn)


def _run(queue: list[Callable[[], None]]) -> None:
    while queue:
        fn = queue.pop(0)
        try:
            fn()
        except Exception:
            log.exception("work deferred until after the response failed")


class AfterResponseMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        queue: list[Callable[[], None]] = []
        token = _queue.set(queue)
        try:
            response = self.get_response(request)
        except BaseException:
            _queue.reset(token)
            _run(queue)
            raise
        _queue.reset(token)
        if queue:
            close = response.close

            def run_then_close(*args: Any, **kwargs: Any) -> None:
                # The body is sent when the server calls close(); the work runs before
                # Django's own close(), whose request_finished signal then tidies up the
                # database connections the work used, as after any request.
                try:
                    _run(queue)
                finally:
                    close(*args, **kwargs)

            response.close = run_then_close  # type: ignore[method-assign]
        return response
