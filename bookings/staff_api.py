"""The staff API (token or session auth): booking pages with their hours, overrides and
questions, and each page's calendar owners, discovered calendars and roles; team pages'
members (each with their own calendars), invitations, and bookings (handed to another member
of a round-robin team with `reassign`).

Create a token with `manage.py api_token_create <username>` (hashed at rest, expiring; see
bookings/api_tokens.py) and send `Authorization: Token <token>`. Staff see and change only
their own pages (and on team pages they are on, their own calendars and the bookings they
attend); superusers all.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from bookings import team, teams_admin
from bookings.models import (
    ALL_STATUSES,
    Booking,
    BookingMember,
    BookingPage,
    DateOverride,
    MemberState,
    Question,
    TeamMember,
    TeamMode,
    WeeklyHours,
    calendar_roles,
    parse_ranges,
    role_problem,
)
from bookings.slots import schedule_for
from bookings.teams_admin import CalendarScope, TeamError, mode_change_problem
from calendars import discovery
from calendars.models import CalendarRef, CalendarRole


# A row of a nested list (hours, overrides, questions). A list given is replaced whole, in a
# PATCH too, so each of its rows must be complete; DRF lets a PATCH skip the rows' required
# fields as well as the page's. (A comment, not a docstring: the schema would show it.)
class WholeRows(serializers.ModelSerializer):
    def to_internal_value(self, data: Any) -> dict[str, Any]:
        attrs = super().to_internal_value(data)
        missing = {
            name: [field.error_messages["required"]]
            for name, field in self.fields.items()
            if field.required and not field.read_only and field.source not in attrs
        }
        if missing:
            raise serializers.ValidationError(missing)
        return attrs


class WeeklyHoursSerializer(WholeRows):
    class Meta:
        model = WeeklyHours
        fields = ["weekday", "start", "end"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            WeeklyHours(**attrs).clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return attrs


# As the editor writes them. time.fromisoformat, which parse_ranges uses, also takes an
# offset ("09:00+05:00"), and an aware time can't be compared with a naive one (a 500).
HOUR = RegexValidator(
    r"^[0-9]{2}:[0-9]{2}(:[0-9]{2})?\Z", gettext_lazy("Write a time as HH:MM, e.g. 09:00.")
)


class OverrideSerializer(WholeRows):
    hours = serializers.ListField(
        child=serializers.ListField(
            child=serializers.CharField(validators=[HOUR]), min_length=2, max_length=2
        ),
        required=False,
        help_text='Ranges instead of the weekday\'s, e.g. [["09:00", "12:00"]]; [] closes the day.',
    )

    class Meta:
        model = DateOverride
        fields = ["date", "hours"]

    def validate_hours(self, value: Any) -> Any:
        try:
            parse_ranges(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value


class QuestionSerializer(WholeRows):
    key = serializers.CharField(read_only=True)
    # DRF's CharField refuses NUL characters, which PostgreSQL's jsonb can't store.
    choices = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Options of a choice question."
    )

    class Meta:
        model = Question
        fields = ["key", "label", "kind", "choices", "required", "position"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            Question(**attrs).clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return attrs


class PageSerializer(serializers.ModelSerializer):
    weekly_hours = WeeklyHoursSerializer(many=True, required=False)
    overrides = OverrideSerializer(many=True, required=False)
    questions = QuestionSerializer(many=True, required=False)
    public_url = serializers.CharField(read_only=True)
    problems = serializers.ListField(
        child=serializers.CharField(), source="setup_problems", read_only=True
    )
    blocking_statuses = serializers.ListField(
        child=serializers.ChoiceField(ALL_STATUSES),
        required=False,
        help_text="Free/busy statuses that block a slot; default: all but Free and NoData.",
    )

    class Meta:
        model = BookingPage
        exclude = ["owner", "created", "updated"]

    def validate_weekly_hours(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_day: dict[int, list[list[str]]] = {}
        for row in value:
            by_day.setdefault(row["weekday"], []).append(
                [row["start"].isoformat(), row["end"].isoformat()]
            )
        for ranges in by_day.values():
            try:
                parse_ranges(ranges)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.messages) from None
        return value

    def validate_team_mode(self, value: str) -> str:
        page = self.instance
        if isinstance(page, BookingPage) and (problem := mode_change_problem(page, value)):
            raise serializers.ValidationError(problem)
        return value

    def validate_overrides(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        dates = [row["date"] for row in value]
        if len(dates) != len(set(dates)):
            raise serializers.ValidationError(_("One override per date."))
        return value

    @transaction.atomic
    def create(self, validated: dict[str, Any]) -> BookingPage:
        nested = {k: validated.pop(k, None) for k in ("weekly_hours", "overrides", "questions")}
        page = BookingPage.objects.create(**validated)
        self._replace(page, nested)
        return page

    @transaction.atomic
    def update(self, page: BookingPage, validated: dict[str, Any]) -> BookingPage:
        nested = {k: validated.pop(k, None) for k in ("weekly_hours", "overrides", "questions")}
        for name, value in validated.items():
            setattr(page, name, value)
        page.save()
        self._replace(page, nested)
        return page

    def _replace(self, page: BookingPage, nested: dict[str, Any]) -> None:
        """Nested lists are replaced whole when given (PUT/PATCH semantics per list)."""
        page.replace_schedule(weekly_hours=nested["weekly_hours"], overrides=nested["overrides"])
        rows = nested["questions"]
        if rows is None:
            return
        # Keep questions whose label is unchanged, so answers stay labelled.
        existing = {q.label: q for q in page.questions.all()}
        keep = []
        for row in rows:
            q = existing.get(row["label"]) or Question(page=page)
            for field, value in row.items():
                setattr(q, field, value)
            q.save()
            keep.append(q.pk)
        page.questions.exclude(pk__in=keep).delete()


class OwnedPages:
    def get_queryset(self) -> QuerySet[BookingPage]:
        user = self.request.user  # type: ignore[attr-defined]
        pages = BookingPage.objects.prefetch_related("weekly_hours", "overrides", "questions")
        return pages if user.is_superuser else pages.filter(owner=user)


class CalendarSerializer(serializers.ModelSerializer):
    allowed_roles = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = CalendarRef
        fields = [
            "id",
            "owner_email",
            "name",
            "is_primary",
            "permission_level",
            "can_create",
            "allowed_roles",
            "error",
        ]


def _calendar_data(ref: CalendarRef, user: Any, role: str) -> dict[str, Any]:
    allowed, refusal = calendar_roles(ref, user)
    return {
        **CalendarSerializer(ref).data,
        "allowed_roles": allowed,
        "refusal": refusal,
        "role": role,
    }


def calendars_payload(scope: CalendarScope) -> dict[str, Any]:
    """The calendar owners of a page (or of one member on a team page), every calendar each
    shares, and its role there."""
    roles = scope.roles()
    conn = scope.connection()
    owners = []
    for owner in scope.owners():
        refs = (
            CalendarRef.objects.filter(
                connection=conn, owner_email=owner.email.lower()
            ).select_related("connection")
            if conn
            else CalendarRef.objects.none()
        )
        owners.append(
            {
                "email": owner.email,
                "calendars": [
                    _calendar_data(ref, scope.user, roles.get(ref.pk, "")) for ref in refs
                ],
            }
        )
    return {"owners": owners, "problems": scope.problems()}


RolesRequest = inline_serializer(
    "RolesRequest",
    {
        "roles": serializers.DictField(
            child=serializers.ChoiceField(CalendarRole.choices),
            help_text='Calendar id (as the calendars list shows it) -> role; "" for none.',
        )
    },
)


class OwnerRequest(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


PageCalendars = inline_serializer(
    "PageCalendars",
    {
        "owners": inline_serializer(
            "CalendarOwner",
            {
                "email": serializers.EmailField(),
                "calendars": inline_serializer(
                    "PageCalendar",
                    {
                        **CalendarSerializer().get_fields(),
                        "role": serializers.ChoiceField(CalendarRole.choices),
                    },
                    many=True,
                ),
            },
            many=True,
        ),
        "problems": serializers.ListField(child=serializers.CharField()),
    },
)


class PageViewSet(OwnedPages, viewsets.ModelViewSet):
    """Booking pages. Weekly hours, overrides and questions are nested lists."""

    serializer_class = PageSerializer
    queryset = BookingPage.objects.none()  # for the schema; get_queryset scopes to the user

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        serializer.save(owner=self.request.user)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.get_object()
        if page.bookings.exists():
            return Response(
                {"detail": _("This page has bookings: deactivate it instead of deleting it.")},
                status=status.HTTP_409_CONFLICT,
            )
        page.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: PageCalendars})
    @action(detail=True, methods=["get"])
    def calendars(self, request: Request, pk: str | None = None) -> Response:
        """Calendar owners of the page, every calendar each shares, and its role here."""
        return Response(calendars_payload(CalendarScope(self.get_object())))

    @extend_schema(request=OwnerRequest, responses={200: PageCalendars})
    @action(detail=True, methods=["post"])
    def owners(self, request: Request, pk: str | None = None) -> Response:
        """Add a calendar owner by email and discover their calendars."""
        return add_calendar_owner(CalendarScope(self.get_object()), request)

    @extend_schema(request=RolesRequest, responses={200: PageCalendars})
    @action(detail=True, methods=["put"])
    def roles(self, request: Request, pk: str | None = None) -> Response:
        """Set roles: {"roles": {"<calendar id>": "main"|"busy"|"additional"|""}}; calendars
        left out keep theirs. Exactly one main booking calendar; permissions are checked."""
        return put_roles(CalendarScope(self.get_object()), request)


# --- calendars and roles, of a page or of one member on a team page --------------------


def add_calendar_owner(scope: CalendarScope, request: Request) -> Response:
    asked = OwnerRequest(data=request.data)
    if not asked.is_valid():
        return Response({"detail": _("Give the owner's email."), "errors": asked.errors}, 400)
    email = asked.validated_data["email"].strip().lower()
    conn = scope.connection()
    if conn is None:
        return Response(
            {"detail": _("Connect a calendar (or attach to the corporate connection) first.")},
            status=409,
        )
    result = discovery.discover(conn, email)
    if result.message and not result.calendars:
        return Response({"detail": result.message, "errors": {"email": [result.message]}}, 400)
    scope.add_owner(email)
    return Response(calendars_payload(scope))


def put_roles(scope: CalendarScope, request: Request) -> Response:
    raw = request.data.get("roles") if isinstance(request.data, dict) else None
    if not isinstance(raw, dict):
        return Response({"detail": _("Send {'roles': {calendar id: role}}.")}, status=400)
    errors = set_roles(scope, raw)
    if errors:
        return Response({"detail": _("Roles not saved."), "errors": errors}, status=400)
    return Response(calendars_payload(scope))


def set_roles(scope: CalendarScope, raw: dict[str, Any]) -> dict[str, list[str]]:
    """Validate and save roles for a page (or a member's calendars on it) in one go;
    returns field errors (nothing saved)."""
    conn = scope.connection()
    owners = {o.email.lower() for o in scope.owners()}
    errors: dict[str, list[str]] = {}
    wanted: dict[CalendarRef, str] = {}
    valid_roles = {c.value for c in CalendarRole}
    for key, role in raw.items():
        # isdigit() alone takes "²", which int() refuses.
        pk = int(key) if str(key).isascii() and str(key).isdigit() else 0
        ref = CalendarRef.objects.filter(pk=pk).first()
        if (
            ref is None
            or conn is None
            or ref.connection_id != conn.pk
            or ref.owner_email not in owners
        ):
            errors[str(key)] = [_("No such calendar on this page.")]
            continue
        if not isinstance(role, str) or role not in valid_roles:
            errors[str(key)] = [_("Unknown role %(role)s.") % {"role": repr(role)}]
            continue
        if problem := role_problem(ref, role, scope.user):
            errors[str(key)] = [problem]
            continue
        wanted[ref] = role
    if errors:
        return errors
    final = {**scope.roles(), **{ref.pk: role for ref, role in wanted.items()}}
    mains = [pk for pk, role in final.items() if role == CalendarRole.MAIN]
    if len(mains) > 1:
        return {"roles": [_("Choose exactly one main booking calendar.")]}
    scope.save_roles({ref.pk: role for ref, role in wanted.items()})
    return {}


# --- team members -----------------------------------------------------------------------


class MemberLoadSerializer(serializers.Serializer):
    recent = serializers.IntegerField(help_text="Bookings made in the page's fairness period.")
    last = serializers.DateTimeField(allow_null=True, help_text="When they were last booked.")
    upcoming = serializers.IntegerField(help_text="Confirmed bookings still to come.")


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.get_username", read_only=True)
    name = serializers.CharField(read_only=True)
    problem = serializers.SerializerMethodField(
        help_text='Why this member can\'t take bookings now ("" when they can).'
    )
    load = serializers.SerializerMethodField()

    class Meta:
        model = TeamMember
        fields = [
            "id",
            "username",
            "name",
            "state",
            "tier",
            "weight",
            "required",
            "max_per_day",
            "max_per_week",
            "added",
            "answered_at",
            "problem",
            "load",
        ]
        read_only_fields = ["state", "added", "answered_at"]

    def get_problem(self, member: TeamMember) -> str:
        if member.state == MemberState.INVITED:
            return _("Hasn't accepted the invitation yet.")
        if member.state == MemberState.DECLINED:
            return _("Declined the invitation.")
        return self.context["problems"].get(member.pk, "")

    @extend_schema_field(MemberLoadSerializer)
    def get_load(self, member: TeamMember) -> dict[str, Any]:
        row = self.context["load"].get(member.pk, {"recent": 0, "last": None, "upcoming": 0})
        return MemberLoadSerializer(row).data


class AddMemberRequest(serializers.Serializer):
    user = serializers.CharField(
        max_length=254, help_text="The staff member's user name or email address."
    )


def _error(status_code: int, detail: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"detail": detail}
    if field:
        body["errors"] = {field: [detail]}
    return Response(body, status=status_code)


PAGE_PK = OpenApiParameter("page_pk", int, OpenApiParameter.PATH, description="The page's id.")
# The calendar actions: the member themselves (and, to read, the page's owner).
OWN_CALENDAR_ACTIONS = {"calendars", "owners", "roles"}


@extend_schema(parameters=[PAGE_PK])
class MemberViewSet(viewsets.ModelViewSet):
    """The team of a team page: its owner adds staff by user name or email (they are invited
    and take bookings once they accept; a superuser adds them at once), sets their tier,
    weight, required and limits, and removes them. Each member chooses their own calendars."""

    serializer_class = MemberSerializer
    queryset = TeamMember.objects.none()  # for the schema; get_queryset scopes to the user
    # Any id reaches the view, which answers a JSON 404 for one that isn't a number (the
    # router's default leaves "0.5" to Django's HTML 404).
    lookup_value_regex = "[^/]+"

    def _page(self) -> BookingPage:
        if not hasattr(self, "_found_page"):
            user = self.request.user
            pages = BookingPage.objects.select_related("owner")
            if not user.is_superuser:
                mine = Q(owner=user)
                if self.action in OWN_CALENDAR_ACTIONS:
                    mine |= Q(pk__in=TeamMember.objects.filter(user=user).values("page_id"))
                pages = pages.filter(mine)
            raw = str(self.kwargs.get("page_pk", ""))
            # Not int() alone: it takes "²" and " 7"; and no page id has 19 digits (SQLite's
            # integers end at 2**63).
            pk = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None
            self._found_page = get_object_or_404(pages, pk=pk)
        return self._found_page

    def get_queryset(self) -> QuerySet[TeamMember]:
        if getattr(self, "swagger_fake_view", False):
            return TeamMember.objects.none()
        page = self._page()
        members = page.members.select_related("user", "page")
        if self.action in OWN_CALENDAR_ACTIONS:
            members = members.exclude(state=MemberState.DECLINED)
            user = self.request.user
            if not (user.is_superuser or page.owner_id == user.pk):
                members = members.filter(user=user)
        return members

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if getattr(self, "swagger_fake_view", False):
            return context
        page = self._page()
        problems = (
            team.member_problems(page, schedule_for(page, fresh=True)) if page.is_team else {}
        )
        context["problems"] = problems
        context["load"] = {row["member"].pk: row for row in team.member_load(page)}
        return context

    @extend_schema(request=AddMemberRequest, responses={201: MemberSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Add a staff member to the team by user name or email."""
        page = self._page()
        asked = AddMemberRequest(data=request.data)
        if not asked.is_valid():
            return Response(
                {
                    "detail": _("Give the staff member's user name or email."),
                    "errors": asked.errors,
                },
                status=400,
            )
        try:
            member = teams_admin.add_member(page, asked.validated_data["user"], by=request.user)
        except TeamError as exc:
            return _error(400, exc.message, "user")
        data = MemberSerializer(member, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Remove a member: refused while they have upcoming bookings on the page."""
        try:
            teams_admin.remove_member(self.get_object())
        except TeamError as exc:
            return _error(400, exc.message)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _own(self, request: Request) -> TeamMember | Response:
        member = self.get_object()
        if member.user_id != request.user.pk:
            return _error(
                403,
                _("Only %(name)s can choose their calendars on this page.") % {"name": member.name},
            )
        return member

    @extend_schema(request=None, responses={200: PageCalendars})
    @action(detail=True, methods=["get"])
    def calendars(self, request: Request, page_pk: str, pk: str | None = None) -> Response:
        """The member's calendar owners on this page, their calendars and roles (the member,
        the page's owner and superusers may read them)."""
        member = self.get_object()
        scope = CalendarScope(member.page, member)
        if member.user_id == request.user.pk:
            scope.add_own_mailbox()
        return Response(calendars_payload(scope))

    @extend_schema(request=OwnerRequest, responses={200: PageCalendars})
    @action(detail=True, methods=["post"])
    def owners(self, request: Request, page_pk: str, pk: str | None = None) -> Response:
        """The member adds a calendar owner by email (their own mailbox, or a colleague's
        who shares a calendar with them)."""
        member = self._own(request)
        if isinstance(member, Response):
            return member
        return add_calendar_owner(CalendarScope(member.page, member), request)

    @extend_schema(request=RolesRequest, responses={200: PageCalendars})
    @action(detail=True, methods=["put"])
    def roles(self, request: Request, page_pk: str, pk: str | None = None) -> Response:
        """The member sets their calendars' roles on this page, as on a personal page:
        exactly one main booking calendar; permissions are checked against the member."""
        member = self._own(request)
        if isinstance(member, Response):
            return member
        return put_roles(CalendarScope(member.page, member), request)


# --- invitations ------------------------------------------------------------------------


class InvitedPageSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner_name", read_only=True)

    class Meta:
        model = BookingPage
        fields = ["id", "slug", "title", "team_mode", "owner"]


class InvitationSerializer(serializers.ModelSerializer):
    page = InvitedPageSerializer(read_only=True)
    invited_by = serializers.SerializerMethodField()

    class Meta:
        model = TeamMember
        fields = ["id", "page", "state", "invited_by", "added", "answered_at"]

    def get_invited_by(self, member: TeamMember) -> str:
        who = member.invited_by
        return (who.get_full_name() or who.get_username()) if who is not None else ""


class InvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The caller's invitations to team pages they haven't answered. Only the invited
    staff member sees and answers theirs."""

    serializer_class = InvitationSerializer
    queryset = TeamMember.objects.none()  # for the schema; get_queryset scopes to the user

    def get_queryset(self) -> QuerySet[TeamMember]:
        return teams_admin.pending_invitations(self.request.user)

    def _answer(self, accept: bool) -> Response:
        member = self.get_object()
        try:
            teams_admin.answer(member, accept=accept)
        except TeamError as exc:  # answered in another tab a moment ago
            return _error(409, exc.message)
        return Response(InvitationSerializer(member).data)

    @extend_schema(request=None, responses={200: InvitationSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        """Join the team: bookings come once a main booking calendar is chosen."""
        return self._answer(True)

    @extend_schema(request=None, responses={200: InvitationSerializer})
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str | None = None) -> Response:
        return self._answer(False)


# --- bookings ---------------------------------------------------------------------------


class AttendeeSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)
    declined = serializers.SerializerMethodField()

    class Meta:
        model = BookingMember
        fields = ["member", "name", "required", "declined"]

    def get_declined(self, attendee: BookingMember) -> bool:
        return attendee.declined_at is not None


class BookingSerializer(serializers.ModelSerializer):
    page_title = serializers.CharField(source="page.title", read_only=True)
    owner = serializers.SerializerMethodField(
        help_text="Whose booking it is: the page's owner, the assigned member (round robin) "
        "or the organiser (collective)."
    )

    class Meta:
        model = Booking
        fields = [
            "id",
            "page",
            "page_title",
            "status",
            "start",
            "end",
            "timezone",
            "name",
            "email",
            "phone",
            "notes",
            "answers",
            "owner",
            "created",
            "cancelled_at",
            "cancelled_by",
            "cancel_reason",
        ]
        read_only_fields = fields

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # "with" is a keyword, so it can't be declared as a class attribute.
        fields["with"] = serializers.SerializerMethodField(method_name="get_with")
        return fields

    def get_owner(self, booking: Booking) -> str:
        return booking.owner.get_full_name() or booking.owner.get_username()

    @extend_schema_field(AttendeeSerializer(many=True))
    def get_with(self, booking: Booking) -> list[dict[str, Any]]:
        """Team bookings: the members it is with, the organiser first ([] on a personal
        page)."""
        rows = sorted(
            booking.attendees.all(),
            key=lambda a: (a.user_id != booking.owner_id, not a.required, a.pk),
        )
        return AttendeeSerializer(rows, many=True).data


class ReassignRequest(serializers.Serializer):
    member = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, help_text="The id of the team member to take it."
    )


def visible_bookings(user: Any) -> QuerySet[Booking]:
    """The bookings a staff member sees: of their pages (team pages too), those they are
    assigned and those they attend; superusers all."""
    bookings = Booking.objects.select_related("page", "owner").prefetch_related(
        Prefetch("attendees", queryset=BookingMember.objects.select_related("user"))
    )
    if user.is_superuser:
        return bookings.order_by("start")
    attending = BookingMember.objects.filter(user=user).values("booking_id")
    mine = Q(owner=user) | Q(page__owner=user) | Q(pk__in=attending)
    return bookings.filter(mine).order_by("start")


class BookingViewSet(viewsets.ReadOnlyModelViewSet):
    """Bookings: of the caller's pages, those assigned to them and those they attend."""

    serializer_class = BookingSerializer
    queryset = Booking.objects.none()  # for the schema; get_queryset scopes to the user

    def get_queryset(self) -> QuerySet[Booking]:
        return visible_bookings(self.request.user)

    @extend_schema(request=ReassignRequest, responses={200: BookingSerializer})
    @action(detail=True, methods=["post"])
    def reassign(self, request: Request, pk: str | None = None) -> Response:
        """Give a round-robin booking to another active member of the team who is free at
        its time: 409 when they aren't (or can't take bookings), 400 for a collective or
        personal booking."""
        booking = self.get_object()
        user = request.user
        page = booking.page
        if not (user.is_superuser or user.pk in (page.owner_id, booking.owner_id)):
            return _error(
                403,
                _("Only the page's owner or the booking's member can hand it to someone else."),
            )
        if page.team_mode != TeamMode.ROUND_ROBIN:
            return _error(
                400,
                _(
                    "Only a round-robin booking can be reassigned: a collective booking is with "
                    "the whole team, a personal one with the page's owner."
                ),
            )
        if booking.is_cancelled:
            return _error(400, _("This booking was cancelled."))
        if booking.end <= timezone.now():
            return _error(400, _("This booking is over."))
        asked = ReassignRequest(data=request.data)
        if not asked.is_valid():
            return Response(
                {"detail": _("Give the id of the member to take it."), "errors": asked.errors},
                status=400,
            )
        member = (
            page.members.filter(pk=asked.validated_data["member"], state=MemberState.ACTIVE)
            .select_related("user")
            .first()
        )
        if member is None:
            return _error(400, _("Choose an active member of this page's team."), "member")
        if member.user_id == booking.owner_id:
            return _error(
                400, _("%(name)s already has this booking.") % {"name": member.name}, "member"
            )
        problems = team.member_problems(page, schedule_for(page, fresh=True))
        if problem := problems.get(member.pk):
            return _error(
                409,
                _("%(name)s can't take bookings: %(problem)s")
                % {"name": member.name, "problem": problem},
                "member",
            )
        if team.reassign(booking, to=member.pk) is None:
            return _error(
                409, _("%(name)s isn't free at that time.") % {"name": member.name}, "member"
            )
        return Response(BookingSerializer(self.get_queryset().get(pk=booking.pk)).data)


router = DefaultRouter()
router.register("pages", PageViewSet, basename="staff-page")
# [^/]+ as the members' own ids (MemberViewSet.lookup_value_regex).
router.register(r"pages/(?P<page_pk>[^/]+)/members", MemberViewSet, basename="staff-member")
router.register("invitations", InvitationViewSet, basename="staff-invitation")
router.register("bookings", BookingViewSet, basename="staff-booking")
