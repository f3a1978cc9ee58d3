"""Injected faults (throttling, 503, dropped connections, outages, latency), SOAP faults for
bad requests, and the request log."""

from __future__ import annotations

import time

import pytest
import requests
from exchangelib import FaultTolerance
from exchangelib.errors import (
    ErrorInvalidOperation,
    ErrorServerBusy,
    ErrorTimeoutExpired,
    TransportError,
)
from exchangelib.services import GetRoomLists
from lxml import etree


def test_throttling_surfaces_as_server_busy_with_the_back_off(sim, new_user, login):
    account = login(new_user("alice"))
    sim.throttle(count=1, back_off_ms=1500)
    with pytest.raises(ErrorServerBusy) as excinfo:
        _ = account.root
    assert excinfo.value.back_off == 1.5
    assert sim.log[-1].outcome == "ErrorServerBusy"


def test_fault_tolerance_waits_out_the_back_off_and_succeeds(sim, new_user, login):
    account = login(new_user("alice"), retry_policy=FaultTolerance(max_wait=10))
    sim.throttle(count=1, back_off_ms=200)
    started = time.monotonic()
    assert account.calendar.name == "Calendar"
    assert time.monotonic() - started >= 0.2
    assert [e.outcome for e in sim.log][:2] == ["ErrorServerBusy", "NoError"]


def test_a_503_is_a_transient_server_error(sim, new_user, login):
    account = login(new_user("alice"))
    sim.fail_http(503, count=1)
    with pytest.raises(TransportError):
        _ = account.root
    assert sim.log[-1].status == 503
    assert account.calendar.name == "Calendar"


def test_a_dropped_connection_is_an_error_then_the_next_request_works(sim, new_user, login):
    account = login(new_user("alice"))
    sim.drop_connections(count=1)
    with pytest.raises(TransportError):
        _ = account.root
    assert sim.log[-1].outcome == "dropped"
    assert account.calendar.name == "Calendar"


def test_a_server_that_is_down_refuses_connections_quickly_and_comes_back(sim, new_user, login):
    account = login(new_user("alice"))
    assert account.root
    port = sim.port
    sim.go_down()
    started = time.monotonic()
    with pytest.raises((ErrorTimeoutExpired, ErrorServerBusy)):
        _ = account.calendar
    assert time.monotonic() - started < 5
    with pytest.raises(requests.ConnectionError):
        requests.post(sim.ews_url, timeout=2)
    sim.come_up()
    assert sim.port == port
    assert account.calendar.name == "Calendar"


def test_latency_applies_globally_and_per_operation(sim, new_user, login):
    account = login(new_user("alice"))
    sim.set_latency(0.2, operation="GetFolder")
    started = time.monotonic()
    _ = account.root
    assert time.monotonic() - started >= 0.2
    assert sim.log[-1].duration >= 0.2


def test_an_unknown_operation_is_a_soap_fault_not_a_crash(sim, new_user, login):
    account = login(new_user("alice"))
    with pytest.raises(ErrorInvalidOperation):
        list(GetRoomLists(protocol=account.protocol).call())
    assert sim.log[-1].operation == "GetRoomLists"
    assert sim.log[-1].status == 500


def test_malformed_xml_gets_a_schema_validation_fault(sim, new_user):
    user = new_user("alice")
    response = requests.post(
        sim.ews_url, data=b"<s:Envelope><oops", auth=(user.email, user.password), timeout=5
    )
    assert response.status_code == 500
    root = etree.fromstring(response.content)
    assert root.findtext(".//faultcode") == "a:ErrorSchemaValidation"


def test_the_log_counts_round_trips_with_caller_and_target(sim, new_user, login):
    owner, svc = new_user("owner"), new_user("svc")
    sim.add_delegate(owner.email, svc.email)
    calendar = login(svc, owner).calendar
    list(calendar.children)
    operations = [e.operation for e in sim.log]
    assert operations[:2] == ["GetFolder", "GetFolder"]  # root, then calendar
    assert {e.caller for e in sim.log} == {svc.email}
    assert {e.target for e in sim.log} == {owner.email}
    assert all(e.duration >= 0 and e.timestamp for e in sim.log)
