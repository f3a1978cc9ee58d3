"""How much of an EWS round trip is the simulator's, and how much is exchangelib's.

Run: ``.venv/bin/python bench/bench_simulator.py [-n 300]``. Three measurements on this
machine, each over one keep-alive connection on loopback:

(a) a bare HTTP echo: a ThreadingHTTPServer returns the POSTed body (the size of an EWS
    GetFolder request); the floor for any HTTP round trip in Python here.
(b) one raw EWS GetFolder to the simulator: the envelope exchangelib sends for the primary
    calendar, POSTed with requests and Basic auth; the simulator parses, authorises, answers.
(c) the same GetFolder through exchangelib with a warmed-up Account (what the app's
    ``verify()`` and delegation check cost), including building and parsing the XML.

It prints median and p95 per round trip and two ratios: the simulator's overhead (b)/(a),
and exchangelib's client-side overhead (c)/(b). Later benchmarks of the app can divide by
these to tell the app's own cost from the simulator's and the client library's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials, FailFast, Version
from exchangelib.folders import Calendar, Root
from exchangelib.properties import DistinguishedFolderId, Mailbox
from exchangelib.version import EXCHANGE_2016

from calendars.simulator import Simulator

EMAIL = "bench@contoso.example"
PASSWORD = "bench-password"  # noqa: S105 (a throw-away simulator mailbox)

# Captured from exchangelib 5.6 resolving a mailbox's primary calendar (the app's verify()).
GET_FOLDER = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
    '<s:Header><t:RequestServerVersion Version="Exchange2016"/>'
    '<t:TimeZoneContext><t:TimeZoneDefinition Id="UTC"/></t:TimeZoneContext></s:Header>'
    "<s:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>"
    "<t:AdditionalProperties>"
    '<t:FieldURI FieldURI="folder:ChildFolderCount"/>'
    '<t:FieldURI FieldURI="folder:DisplayName"/>'
    '<t:FieldURI FieldURI="folder:DistinguishedFolderId"/>'
    '<t:FieldURI FieldURI="folder:EffectiveRights"/>'
    '<t:FieldURI FieldURI="folder:FolderClass"/>'
    '<t:FieldURI FieldURI="folder:FolderId"/>'
    '<t:FieldURI FieldURI="folder:ParentFolderId"/>'
    '<t:FieldURI FieldURI="folder:PermissionSet"/>'
    '<t:FieldURI FieldURI="folder:TotalCount"/>'
    '<t:FieldURI FieldURI="folder:UnreadCount"/>'
    "</t:AdditionalProperties></m:FolderShape>"
    '<m:FolderIds><t:DistinguishedFolderId Id="calendar"><t:Mailbox>'
    f"<t:EmailAddress>{EMAIL}</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType>"
    "<t:MailboxType>Mailbox</t:MailboxType></t:Mailbox></t:DistinguishedFolderId>"
    "</m:FolderIds></m:GetFolder></s:Body></s:Envelope>"
).encode()


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the simulator and Exchange do
    # Headers and body go out in two writes; without TCP_NODELAY the second one waits for
    # the client's delayed ACK (~40 ms on Linux), which would measure the kernel, not HTTP.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def measure(call: Callable[[], None], n: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    timings = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return timings


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=300, help="timed round trips per measurement")
    parser.add_argument("--warmup", type=int, default=30, help="untimed round trips first")
    args = parser.parse_args()

    echo = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    echo.daemon_threads = True
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    echo_url = f"http://127.0.0.1:{echo.server_port}/EWS/Exchange.asmx"
    headers = {"Content-Type": "text/xml; charset=utf-8", "X-AnchorMailbox": EMAIL}

    with Simulator() as sim, requests.Session() as http:
        sim.add_mailbox(EMAIL, "Bench", PASSWORD)

        def bare_echo() -> None:
            response = http.post(echo_url, data=GET_FOLDER, headers=headers)
            assert response.content == GET_FOLDER

        def raw_ews() -> None:
            response = http.post(
                sim.ews_url, data=GET_FOLDER, headers=headers, auth=(EMAIL, PASSWORD)
            )
            assert response.status_code == 200 and b"NoError" in response.content

        account = Account(
            EMAIL,
            config=Configuration(
                service_endpoint=sim.ews_url,
                credentials=Credentials(EMAIL, PASSWORD),
                auth_type=BASIC,
                version=Version(build=EXCHANGE_2016),
                retry_policy=FailFast(),
            ),
            autodiscover=False,
            access_type=DELEGATE,
        )

        def via_exchangelib() -> None:
            # Exactly what calendars.backends.ews does for verify(): one GetFolder.
            folder = Calendar(
                _distinguished_id=DistinguishedFolderId(
                    id="calendar", mailbox=Mailbox(email_address=EMAIL)
                ),
                root=Root(account=account),
            )
            assert Calendar.resolve(account=account, folder=folder).name == "Calendar"

        sizes = (
            len(GET_FOLDER),
            len(
                http.post(
                    sim.ews_url, data=GET_FOLDER, headers=headers, auth=(EMAIL, PASSWORD)
                ).content
            ),
        )
        started = time.perf_counter()
        a = measure(bare_echo, args.n, args.warmup)
        b = measure(raw_ews, args.n, args.warmup)
        c = measure(via_exchangelib, args.n, args.warmup)
        elapsed = time.perf_counter() - started
        round_trips = sum(1 for entry in sim.log if entry.operation == "GetFolder")
    echo.shutdown()
    echo.server_close()

    expected = 2 * (args.n + args.warmup) + 1
    assert round_trips == expected, f"exchangelib made extra round trips: {round_trips}"

    print(f"EWS GetFolder: request {sizes[0]} bytes, response {sizes[1]} bytes")
    print(f"{args.n} timed round trips each after {args.warmup} warm-up, {elapsed:.1f} s total\n")
    print(f"{'':34} {'median':>10} {'p95':>10}")
    for label, timings in (
        ("(a) bare HTTP echo", a),
        ("(b) raw EWS to the simulator", b),
        ("(c) the same through exchangelib", c),
    ):
        print(f"{label:34} {ms(statistics.median(timings))} {ms(p95(timings))}")
    med_a, med_b, med_c = (statistics.median(t) for t in (a, b, c))
    print()
    print(f"simulator overhead     (b)/(a) = {med_b / med_a:5.2f}x  (+{ms(med_b - med_a)})")
    print(f"exchangelib overhead   (c)/(b) = {med_c / med_b:5.2f}x  (+{ms(med_c - med_b)})")
    if med_b - med_a > 0.030:
        print(
            "\nThe simulator adds over 30 ms per round trip: that is the Nagle / delayed-ACK "
            "stall of a server writing headers and body separately without TCP_NODELAY "
            "(socketserver's disable_nagle_algorithm), not EWS work."
        )


if __name__ == "__main__":
    main()
