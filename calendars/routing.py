"""Where a hybrid connection reaches each mailbox: on-premises over EWS, or in Exchange Online
over Microsoft Graph (calendars/backends/hybrid.py asks here for every call).

Autodiscover v2, the JSON endpoint Microsoft documents for this ("Autodiscover for
Exchange"; Exchange 2016 CU and later, and Exchange Online):

    GET https://<autodiscover host>/autodiscover/autodiscover.json/v1.0/{email}?Protocol=EWS
    200 {"Protocol": "EWS", "Url": "https://outlook.office365.com/EWS/Exchange.asmx"}

It needs no sign-in and names one URL per protocol. In a hybrid organisation the
Autodiscover name (autodiscover.<domain>) points at the on-premises servers, which know the
cloud mailboxes too (as mail users whose target address is in Exchange Online), so one
endpoint answers for every mailbox: the organisation's own EWS URL for a mailbox on its
servers, Exchange Online's (connect.EXCHANGE_ONLINE_HOSTS) for one moved to the cloud. Any
other protocol name is HTTP 400 `{"ErrorCode": "InvalidProtocol", ...}`; an address it doesn't
know gets the Exchange Online URL (the front door doesn't tell unknown addresses apart), so
such a mailbox is routed to Graph, which then says it has no such mailbox.

The endpoint is the one settings.EXCHANGE_AUTODISCOVER_ENDPOINTS names for the mailbox's
domain (its host: that setting names the SOAP endpoint on the same server), else
https://<domain> and https://autodiscover.<domain>, as connect.autodiscover_endpoints walks
them. Every host is vetted by the SSRF guard and reached through the product's transport
(calendars/transport.py), redirects included.

The answer is remembered (MailboxRoute) for ROUTE_LIFETIME: a day, because mailboxes move
between on-premises and the cloud in planned batches, a move completes overnight, and for
the hours until the route is asked again the old side still answers (Exchange proxies or
redirects moved mailboxes for a while) or fails loudly; asking on every call would add a
round trip to every slots request.

When Autodiscover can't answer (unreachable, refused by the guard, an error or an answer
without a URL), the mailbox itself is asked: Graph first (the app-only credentials), and a
MailboxNotEnabledForRESTAPI answer (errors.MailboxOnPremises) means EWS. That answer is
remembered like Autodiscover's. Graph knowing no such mailbox means EWS, not remembered (an
on-premises mailbox Entra doesn't list; or a typo, which EWS reports in its own words). If
Graph can't be reached either, a route remembered earlier is used however old it is, and
without one the error is raised: guessing would read the wrong calendar server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from calendars import transport
from calendars.errors import ExchangeError, MailboxNotFound, MailboxOnPremises, UrlNotAllowed
from calendars.models import ExchangeConnection, MailboxRoute, Protocol, SyncDirection
from calendars.synclog import record
from calendars.urlcheck import check_url

log = logging.getLogger(__name__)

ROUTE_LIFETIME = timedelta(days=1)
JSON_PATH = "/autodiscover/autodiscover.json/v1.0/"
# Autodiscover v2 may redirect (Exchange Online sends on-premises addresses home); a few
# hops are plenty, and each is vetted by the transport.
_MAX_REDIRECTS = 3


def protocol_for(connection: ExchangeConnection, mailbox: str) -> str:
    """ "ews" or "graph": where `connection` reaches `mailbox` (see the module docstring)."""
    return protocols_for(connection, [mailbox])[_normal(mailbox)]


def protocols_for(connection: ExchangeConnection, mailboxes: Iterable[str]) -> dict[str, str]:
    """`protocol_for` for several mailboxes with one database query (a page's busy read
    names every owner at once). Keys are the addresses lower-cased."""
    wanted = {_normal(m) for m in mailboxes}
    remembered: dict[str, MailboxRoute] = {}
    if connection.pk and wanted:
        remembered = {
            r.mailbox: r
            for r in MailboxRoute.objects.filter(connection_id=connection.pk, mailbox__in=wanted)
        }
    now = timezone.now()
    answer: dict[str, str] = {}
    for mailbox in wanted:
        route = remembered.get(mailbox)
        if route is not None and now - route.checked_at < ROUTE_LIFETIME:
            answer[mailbox] = route.protocol
            continue
        answer[mailbox] = _find(connection, mailbox, route)
    return answer


def forget(connection: ExchangeConnection, mailbox: str = "") -> None:
    """Ask again next time (one mailbox, or all of the connection's)."""
    routes = MailboxRoute.objects.filter(connection_id=connection.pk)
    if mailbox:
        routes = routes.filter(mailbox=_normal(mailbox))
    routes.delete()


def _normal(mailbox: str) -> str:
    return mailbox.strip().lower()


def _find(connection: ExchangeConnection, mailbox: str, stale: MailboxRoute | None) -> str:
    protocol = autodiscover_protocol(connection, mailbox)
    if protocol is None:
        try:
            protocol = _probe(connection, mailbox)
        except ExchangeError:
            if stale is None:
                raise
            # Neither Autodiscover nor Graph answers now: the last known route is the best
            # guess, and it is asked again next time.
            return stale.protocol
        if protocol is None:
            return Protocol.EWS
    _remember(connection, mailbox, protocol)
    return protocol


def autodiscover_protocol(connection: ExchangeConnection | None, mailbox: str) -> str | None:
    """Ask Autodiscover v2 where `mailbox` lives: "ews", "graph", or None (no answer)."""
    for endpoint in _endpoints(mailbox):
        url = endpoint + JSON_PATH + quote(mailbox, safe="@")
        try:
            check_url(url)
        except UrlNotAllowed:
            continue
        try:
            with record(connection, SyncDirection.VERIFY, "Autodiscover v2", mailbox):
                found = _ask(url)
        except (ExchangeError, requests.exceptions.RequestException, ValueError) as exc:
            log.info("Autodiscover v2 at %s gave no answer: %s", endpoint, type(exc).__name__)
            continue
        if found:
            host = (urlsplit(found).hostname or "").lower()
            from calendars.connect import EXCHANGE_ONLINE_HOSTS

            return Protocol.GRAPH if host in EXCHANGE_ONLINE_HOSTS else Protocol.EWS
    return None


def _endpoints(mailbox: str) -> list[str]:
    """scheme://host of each Autodiscover server to ask, in order."""
    domain = mailbox.rpartition("@")[2].lower()
    configured = settings.EXCHANGE_AUTODISCOVER_ENDPOINTS.get(domain)
    if configured:
        parts = urlsplit(configured)
        return [f"{parts.scheme}://{parts.netloc}"]
    return [f"https://{domain}", f"https://autodiscover.{domain}"]


def _ask(url: str) -> str:
    """The URL Autodiscover names, or "" for an answer without one (an error code)."""
    with transport.session() as http:
        http.max_redirects = _MAX_REDIRECTS
        if settings.EXCHANGE_CA_BUNDLE:
            # As oauth's session: with trust_env on, REQUESTS_CA_BUNDLE would override ours.
            http.trust_env = False
            http.verify = settings.EXCHANGE_CA_BUNDLE
        response = http.get(
            url,
            params={"Protocol": "EWS"},
            headers={"Accept": "application/json"},
            timeout=settings.EXCHANGE_TIMEOUT,
        )
        if response.status_code != 200:
            return ""
        answer = response.json()
    if not isinstance(answer, dict) or str(answer.get("Protocol", "")).lower() != "ews":
        return ""
    return str(answer.get("Url") or "")


def _probe(connection: ExchangeConnection, mailbox: str) -> str | None:
    """Ask Graph for the mailbox's calendar: "graph" if it answers, "ews" if it says the
    mailbox is on-premises, None if Exchange Online has no such mailbox."""
    from calendars.backends.hybrid import graph_backend

    try:
        graph_backend(connection).mailbox_access(mailbox)
    except MailboxOnPremises:
        return Protocol.EWS
    except MailboxNotFound:
        return None
    return Protocol.GRAPH


def _remember(connection: ExchangeConnection, mailbox: str, protocol: str) -> None:
    if not connection.pk:
        return  # an unsaved candidate (being verified) has nowhere to keep routes
    try:
        # A savepoint: a lost race must not break the caller's transaction (a booking's).
        with transaction.atomic():
            MailboxRoute.objects.update_or_create(
                connection_id=connection.pk,
                mailbox=mailbox,
                defaults={"protocol": protocol, "checked_at": timezone.now()},
            )
    except IntegrityError:
        # Another process remembered the same mailbox at the same moment: its answer is ours.
        pass
