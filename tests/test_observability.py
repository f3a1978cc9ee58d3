"""Request ids on every response and in every log line; JSON logs parse."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from scheduler_site.observability import JsonFormatter, RequestIdFilter, request_id

pytestmark = pytest.mark.django_db


def test_every_response_carries_a_request_id() -> None:
    response = Client().get("/healthz")
    assert len(response["X-Request-ID"]) == 32


def test_a_sane_request_id_from_the_proxy_is_kept_and_a_hostile_one_replaced() -> None:
    assert Client().get("/healthz", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    hostile = Client().get("/healthz", HTTP_X_REQUEST_ID="a\nb" + "x" * 100)
    assert hostile["X-Request-ID"] != "a\nb" + "x" * 100


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("bookings", logging.INFO, __file__, 1, "booked %s", ("x",), None)
    token = request_id.set("rid-1")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "booked x"
    assert line["request_id"] == "rid-1"
    assert line["level"] == "INFO"
