"""Build an Exchange world for a test: people in the simulator, a connection, booking pages.

Every name gets a unique tag, so tests sharing one simulator (one per xdist worker) never see
each other's mailboxes. Use through the `world` fixture in tests/conftest.py.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from bookings.models import (
    BookingPage,
    MemberState,
    PageCalendar,
    PageCalendarOwner,
    TeamMember,
    TeamMode,
    WeeklyHours,
)
from calendars import discovery
from calendars.models import (
    AuthType,
    CalendarRef,
    ConnectionKind,
    CorporateMember,
    ExchangeConnection,
    ExchangeVersion,
    MembershipProof,
    Protocol,
    WriteConsent,
)
from calendars.simulator import Simulator
from calendars.simulator.graph.render import graph_id
from calendars.simulator.graph.render import store_id as graph_store_id


@dataclass
class Person:
    email: str
    password: str
    login: str


class World:
    """`protocol` "ews": an on-premises organisation reached over EWS with a password.
    "graph": the same people in Exchange Online, the dedicated mailbox signed in with
    Microsoft (delegated Graph), members delegating or sharing to it exactly as on-premises."""

    def __init__(self, sim: Simulator, protocol: str = "ews") -> None:
        self.sim = sim
        self.protocol = protocol
        self.tag = uuid.uuid4().hex[:8]
        self._corporate: ExchangeConnection | None = None
        self.people: dict[str, Person] = {}

    @property
    def graph(self) -> bool:
        return self.protocol == "graph"

    def person(self, name: str) -> Person:
        email = f"{name}-{self.tag}@contoso.example"
        password = f"pw-{name}-{self.tag}"
        login = f"CONTOSO\\{name}-{self.tag}"
        self.sim.add_mailbox(email, f"{name.title()} {self.tag}", password, logins=[login])
        if self.graph:
            self.sim.identity_provider.register_user(email, password)
        self.people[email] = Person(email, password, login)
        return self.people[email]

    # Ids as the app knows them. Graph spells a folder's id its own way (URL-safe) and names
    # events by their immutable ids, which the store keeps beside each item's EWS id.

    def folder_ref(self, folder_id: str) -> str:
        """The simulator's folder id as this world's protocol names the folder."""
        return graph_id(folder_id) if self.graph else folder_id

    def item_ref(self, item: Any) -> str:
        """The id the app knows a simulator item by: EWS's ItemId, or Graph's immutable id."""
        return graph_id(item.immutable_id) if self.graph else str(item.id)

    def in_store(self, item_id: str) -> str:
        """The simulator's (EWS) id of the item the app knows as `item_id`."""
        if not self.graph:
            return item_id
        wanted = graph_store_id(item_id)
        with self.sim.store.lock:
            for folder in self.sim.store.folders.values():
                for item in folder.items.values():
                    if item.immutable_id == wanted:
                        return str(item.id)
        raise KeyError(item_id)

    def microsoft_sign_in(self, email: str) -> str:
        """What "Connect with Microsoft" does for `email`: msal's authorization code flow
        against the identity provider, the person signing in there. Returns the refresh
        token the app would store."""
        from calendars import oauth
        from tests.conftest import SITE_REDIRECT_URI

        app = oauth.site_app()
        flow = app.initiate_auth_code_flow(
            list(oauth.GRAPH_SCOPES_USER), redirect_uri=SITE_REDIRECT_URI, response_mode="form_post"
        )
        answer = self.sim.identity_provider.sign_in(
            flow["auth_uri"], email, self.people[email].password
        )
        result = app.acquire_token_by_auth_code_flow(flow, answer)
        oauth.raise_for_error(result)
        return result["refresh_token"]

    def outlook(self, email: str, tz: str | None = None) -> Any:
        """The owner's own EWS session (an exchangelib Account), as Outlook has it."""
        from exchangelib import (
            BASIC,
            DELEGATE,
            Account,
            Configuration,
            Credentials,
            EWSTimeZone,
            FailFast,
        )
        from exchangelib.version import EXCHANGE_2016, Version

        person = self.people[email]
        config = Configuration(
            service_endpoint=self.sim.ews_url,
            credentials=Credentials(person.email, person.password),
            auth_type=BASIC,
            version=Version(EXCHANGE_2016),
            retry_policy=FailFast(),
        )
        zone = {"default_timezone": EWSTimeZone(tz)} if tz else {}
        return Account(email, config=config, autodiscover=False, access_type=DELEGATE, **zone)

    def calendar_as_owner(self, email: str) -> list[tuple[str, datetime, datetime]]:
        """(item id, start, end) of the events in `email`'s calendar, read back with
        exchangelib signed in as the owner, the way Outlook would see them."""
        account = self.outlook(email)
        start = datetime.now(UTC) - timedelta(days=1)
        items = account.calendar.view(start=start, end=start + timedelta(days=400))
        return sorted(
            (item.id, _plain_utc(item.start), _plain_utc(item.end))
            for item in items.only("id", "start", "end")
        )

    def corporate(self) -> ExchangeConnection:
        """The site's dedicated mailbox (created once per world)."""
        if self._corporate is None:
            sync = self.person("booking-sync")
            if self.graph:
                self._corporate = ExchangeConnection.objects.create(
                    kind=ConnectionKind.CORPORATE,
                    email=sync.email,
                    protocol=Protocol.GRAPH,
                    auth_type=AuthType.OAUTH_USER,
                    exchange_version=ExchangeVersion.ONLINE,
                    oauth_refresh_token=self.microsoft_sign_in(sync.email),
                )
            else:
                self._corporate = ExchangeConnection.objects.create(
                    kind=ConnectionKind.CORPORATE,
                    email=sync.email,
                    ews_url=self.sim.ews_url,
                    auth_type=AuthType.BASIC,
                    password=sync.password,
                )
        return self._corporate

    def app_only_ews_corporate(self, roles: tuple[str, ...] = ()) -> ExchangeConnection:
        """The corporate connection as Microsoft 365 sites made it before Graph: EWS with an
        app registration's client credentials, members reached by impersonation. `roles`:
        what else the registration holds (Graph's "Calendars.ReadWrite"). Graph worlds only
        (the identity provider); exchangelib's OAuth over the simulator's plain http needs
        OAUTHLIB_INSECURE_TRANSPORT=1 in the environment."""
        idp = self.sim.identity_provider
        client_id, secret = str(uuid.uuid4()), f"secret-{uuid.uuid4().hex[:8]}"
        idp.register_application(client_id, secret, roles=["full_access_as_app", *roles])
        self._corporate = ExchangeConnection.objects.create(
            kind=ConnectionKind.CORPORATE,
            email=self.person("booking-app").email,
            ews_url=self.sim.ews_url,
            auth_type=AuthType.OAUTH_APP,
            oauth_authority=idp.authority,
            oauth_client_id=client_id,
            oauth_client_secret=secret,
        )
        return self._corporate

    def staff(self, name: str, *, delegate: bool = True, superuser: bool = False) -> User:
        """A staff user with their own mailbox, attached to the corporate connection."""
        person = self.person(name)
        user = User.objects.create_user(
            f"{name}-{self.tag}", person.email, "staff-password", is_staff=True
        )
        user.is_superuser = superuser
        user.save()
        conn = self.corporate()
        if delegate:
            self.sim.add_delegate(person.email, conn.email)
        CorporateMember.objects.create(
            user=user,
            connection=conn,
            mailbox=person.email,
            # The address on their account, which an administrator set: proven.
            proof=MembershipProof.ACCOUNT,
            proven_at=timezone.now(),
            access_ok=delegate,
            can_write=delegate,
            checked_at=timezone.now(),
        )
        return user

    def allow(self, owner: User, *colleagues: User) -> None:
        """`owner` lets these colleagues book into their calendar (their own consent)."""
        member = owner.corporate_membership
        member.write_consent = WriteConsent.NAMED
        member.save(update_fields=["write_consent"])
        member.allowed_colleagues.add(*colleagues)

    def sub_calendar(self, owner: str, name: str, level: str = "Editor") -> str:
        """A sub-calendar the corporate mailbox can use (sharing is per folder in Exchange)."""
        folder_id = self.sim.add_calendar(owner, name)
        self.sim.set_permission(owner, self.corporate().email, level, calendar=name)
        return folder_id

    def calendars(self, connection: ExchangeConnection, owner: str) -> list[CalendarRef]:
        result = discovery.discover(connection, owner)
        assert result.calendars, result.message
        return result.calendars

    def page(
        self,
        owner: User,
        *,
        slug: str | None = None,
        tz: str = "Europe/London",
        hours: tuple[time, time] = (time(9), time(17)),
        weekdays: range | list[int] = range(5),
        roles: dict[str, str] | None = None,
        **fields: Any,
    ) -> BookingPage:
        """A page with weekly hours; `roles` maps "owner@x" or "owner@x/Sub" to a role.

        By default the owner's own primary calendar is the main booking calendar.
        """
        fields.setdefault("min_notice_minutes", 0)
        page = BookingPage.objects.create(
            owner=owner,
            slug=slug or f"page-{uuid.uuid4().hex[:10]}",
            title=fields.pop("title", "Consultation"),
            timezone=tz,
            **fields,
        )
        for day in weekdays:
            WeeklyHours.objects.create(page=page, weekday=day, start=hours[0], end=hours[1])
        self.assign(page, roles if roles is not None else {owner.email: "main"})
        return page

    def team_page(
        self,
        owner: User,
        members: list[User],
        *,
        mode: str = TeamMode.ROUND_ROBIN,
        optional: tuple[User, ...] = (),
        **fields: Any,
    ) -> BookingPage:
        """A team page of `owner`'s whose `members` (and `optional` members, collective) have
        accepted, each with their own primary calendar as main booking calendar."""
        page = self.page(owner, roles={}, team_mode=mode, **fields)
        for user in [*members, *optional]:
            self.add_member(page, user, required=user not in optional)
        return page

    def add_member(
        self,
        page: BookingPage,
        user: User,
        roles: dict[str, str] | None = None,
        **fields: Any,
    ) -> TeamMember:
        """`user` on the team of `page`, accepted, with these calendar roles (default: their
        own primary calendar as main booking calendar)."""
        from calendars.connect import connection_for

        fields.setdefault("state", MemberState.ACTIVE)
        member = TeamMember.objects.create(page=page, user=user, **fields)
        conn = connection_for(user)
        assert conn is not None
        for key, role in (roles if roles is not None else {user.email: "main"}).items():
            owner, _, name = key.partition("/")
            PageCalendarOwner.objects.get_or_create(page=page, member=member, email=owner)
            refs = self.calendars(conn, owner)
            ref = next(r for r in refs if (r.name == name if name else r.is_primary))
            PageCalendar.objects.update_or_create(
                page=page, member=member, calendar=ref, defaults={"role": role}
            )
        return member

    def assign(self, page: BookingPage, roles: dict[str, str]) -> None:
        from calendars.connect import connection_for

        conn = connection_for(page.owner)
        assert conn is not None
        for key, role in roles.items():
            owner, _, name = key.partition("/")
            PageCalendarOwner.objects.get_or_create(page=page, member=None, email=owner)
            refs = self.calendars(conn, owner)
            ref = next(r for r in refs if (r.name == name if name else r.is_primary))
            PageCalendar.objects.update_or_create(
                page=page, member=None, calendar=ref, defaults={"role": role}
            )


def _plain_utc(value: datetime) -> datetime:
    return datetime.fromisoformat(value.isoformat()).astimezone(UTC)


def monday_after(days: int = 7) -> datetime:
    """Midnight UTC of a Monday at least `days` ahead, so tests never race the clock."""
    day = datetime.now(UTC).date() + timedelta(days=days)
    day += timedelta(days=(7 - day.weekday()) % 7)
    return datetime.combine(day, time(0), tzinfo=UTC)
