"""Work a request defers until its response is sent (scheduler_site/afterresponse.py), and
the sync log rows written that way."""

from __future__ import annotations

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections, connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory

from calendars import synclog
from calendars.models import SyncDirection, SyncLogEntry
from scheduler_site.afterresponse import AfterResponseMiddleware, later

pytestmark = pytest.mark.django_db


def close(response: HttpResponse) -> None:
    """response.close(), keeping the test's database connection open as Django's test client
    does (request_finished would close it, inside the test's transaction)."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def view_logging_one_call(request):  # type: ignore[no-untyped-def]
    with synclog.record(None, SyncDirection.READ, "GetUserAvailability", "ann@contoso.example"):
        pass
    return HttpResponse("ok")


def test_a_requests_sync_log_rows_are_written_once_its_response_is_sent() -> None:
    response = AfterResponseMiddleware(view_logging_one_call)(RequestFactory().get("/"))
    assert response.content == b"ok"
    assert not SyncLogEntry.objects.exists()  # the customer isn't kept waiting for it
    close(response)  # what the WSGI server does once the body is written
    (entry,) = SyncLogEntry.objects.all()
    assert (entry.operation, entry.target_mailbox, entry.ok) == (
        "GetUserAvailability",
        "ann@contoso.example",
        True,
    )


def test_outside_a_request_deferred_work_runs_at_once() -> None:
    done = []
    later(lambda: done.append(1))
    assert done == [1]


def test_a_failing_deferred_job_is_logged_and_the_others_still_run(caplog) -> None:  # type: ignore[no-untyped-def]
    done = []

    def view(request):  # type: ignore[no-untyped-def]
        later(lambda: 1 / 0)
        later(lambda: done.append("second"))
        return HttpResponse("ok")

    close(AfterResponseMiddleware(view)(RequestFactory().get("/")))
    assert done == ["second"]
    assert "deferred until after the response failed" in caplog.text


def test_a_view_that_raises_still_runs_what_it_deferred() -> None:
    done = []

    def view(request):  # type: ignore[no-untyped-def]
        later(lambda: done.append("ran"))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        AfterResponseMiddleware(view)(RequestFactory().get("/"))
    assert done == ["ran"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_log_rows_inside_a_callers_transaction_commit_with_it_durably() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    with transaction.atomic():
        with synclog.record(None, SyncDirection.WRITE, "CreateItem", "ann@contoso.example"):
            pass
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            # A booking's transaction is never made to commit without waiting for the disk.
            assert cursor.fetchone()[0] == "on"
    assert SyncLogEntry.objects.filter(operation="CreateItem").exists()
