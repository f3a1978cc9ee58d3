import logging
import uuid

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static

log = logging.getLogger(__name__)


def index(request: HttpRequest) -> HttpResponse:
    """The product's front door: what it is for visitors, the dashboard for staff."""
    if request.user.is_authenticated:
        return redirect("dashboard")
    return render(request, "index.html")


def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers and monitoring: the database, the cache and the Celery broker.

    200 when all three answer, 503 naming the one that doesn't. Exchange is deliberately not
    checked: it being down must not take the web tier out of the load balancer (public pages
    then say availability is unknown; bookings already made are written later)."""
    checks = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}
    results = {}
    for name, check in checks.items():
        try:
            check()
        except Exception:
            log.warning("healthz: %s unavailable", name, exc_info=True)
            results[name] = "unavailable"
        else:
            results[name] = "ok"
    status = 200 if all(v == "ok" for v in results.values()) else 503
    return JsonResponse(results, status=status)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("the cache did not keep a value")
    cache.delete(key)


def _check_broker() -> None:
    from scheduler_site.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def favicon(request: HttpRequest) -> HttpResponse:
    """The app's icon at the address browsers try first, for the pages that name no icon."""
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))
