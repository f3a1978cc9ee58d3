"""The simulator over HTTPS (a test CA's certificate), and random throttling."""

from __future__ import annotations

import pytest
import requests
from exchangelib.errors import ErrorServerBusy

from calendars.simulator.tls import TestCA, server_context

from .conftest import make_simulator


def test_it_serves_ews_over_https_with_a_trusted_certificate():
    with TestCA() as ca:
        issued = ca.issue_server_certificate()
        with make_simulator(ssl_context=server_context(issued.cert_path, issued.key_path)) as sim:
            sim.add_mailbox("tls@contoso.example", "TLS", "pw")
            assert sim.ews_url.startswith("https://")
            response = requests.post(
                sim.ews_url, data=b"<x/>", verify=str(ca.ca_cert_path), timeout=5
            )
            assert response.status_code == 401
            with pytest.raises(requests.exceptions.SSLError):
                requests.post(sim.ews_url, data=b"<x/>", timeout=5)


def test_percentage_throttling_refuses_requests_at_random(sim, new_user, login):
    account = login(new_user("alice"))
    sim.throttle(count=0, back_off_ms=100, percent=100)
    with pytest.raises(ErrorServerBusy):
        _ = account.root
    sim.clear_faults()
    assert account.root
