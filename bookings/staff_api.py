"""The staff API (token or session auth): booking pages with their hours, overrides and
questions, and each page's calendar owners, discovered calendars and roles.

Create a token with `manage.py api_token_create <username>` (hashed at rest, expiring; see
bookings/api_tokens.py) and send `Authorization: Token <token>`. Staff see and change only
their own pages; superusers all.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from bookings.models import (
    ALL_STATUSES,
    BookingPage,
    DateOverride,
    PageCalendarOwner,
    Question,
    WeeklyHours,
    calendar_roles,
    parse_ranges,
    role_problem,
    save_roles,
)
from calendars import discovery
from calendars.connect import connection_for
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
HOUR = RegexValidator(r"^[0-9]{2}:[0-9]{2}(:[0-9]{2})?\Z", "Write a time as HH:MM, e.g. 09:00.")


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

    def validate_overrides(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        dates = [row["date"] for row in value]
        if len(dates) != len(set(dates)):
            raise serializers.ValidationError("One override per date.")
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


def _calendar_data(ref: CalendarRef, page: BookingPage, role: str) -> dict[str, Any]:
    allowed, refusal = calendar_roles(ref, page.owner)
    return {
        **CalendarSerializer(ref).data,
        "allowed_roles": allowed,
        "refusal": refusal,
        "role": role,
    }


def calendars_payload(page: BookingPage) -> dict[str, Any]:
    roles = {pc.calendar_id: pc.role for pc in page.page_calendars.all()}
    conn = connection_for(page.owner)
    owners = []
    for owner in page.calendar_owners.all():
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
                "calendars": [_calendar_data(ref, page, roles.get(ref.pk, "")) for ref in refs],
            }
        )
    return {"owners": owners, "problems": page.setup_problems()}


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
                {"detail": "This page has bookings: deactivate it instead of deleting it."},
                status=status.HTTP_409_CONFLICT,
            )
        page.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: PageCalendars})
    @action(detail=True, methods=["get"])
    def calendars(self, request: Request, pk: str | None = None) -> Response:
        """Calendar owners of the page, every calendar each shares, and its role here."""
        return Response(calendars_payload(self.get_object()))

    @extend_schema(request=OwnerRequest, responses={200: PageCalendars})
    @action(detail=True, methods=["post"])
    def owners(self, request: Request, pk: str | None = None) -> Response:
        """Add a calendar owner by email and discover their calendars."""
        page = self.get_object()
        asked = OwnerRequest(data=request.data)
        if not asked.is_valid():
            return Response({"detail": "Give the owner's email.", "errors": asked.errors}, 400)
        email = asked.validated_data["email"].strip().lower()
        conn = connection_for(page.owner)
        if conn is None:
            return Response(
                {"detail": "Connect a calendar (or attach to the corporate connection) first."},
                status=409,
            )
        result = discovery.discover(conn, email)
        if result.message and not result.calendars:
            return Response({"detail": result.message, "errors": {"email": [result.message]}}, 400)
        PageCalendarOwner.objects.get_or_create(page=page, email=email)
        return Response(calendars_payload(page))

    @extend_schema(request=RolesRequest, responses={200: PageCalendars})
    @action(detail=True, methods=["put"])
    def roles(self, request: Request, pk: str | None = None) -> Response:
        """Set roles: {"roles": {"<calendar id>": "main"|"busy"|"additional"|""}}; calendars
        left out keep theirs. Exactly one main booking calendar; permissions are checked."""
        page = self.get_object()
        raw = request.data.get("roles") if isinstance(request.data, dict) else None
        if not isinstance(raw, dict):
            return Response({"detail": "Send {'roles': {calendar id: role}}."}, status=400)
        errors = set_roles(page, raw)
        if errors:
            return Response({"detail": "Roles not saved.", "errors": errors}, status=400)
        return Response(calendars_payload(page))


def set_roles(page: BookingPage, raw: dict[str, Any]) -> dict[str, list[str]]:
    """Validate and save roles for a page in one go; returns field errors (nothing saved)."""
    conn = connection_for(page.owner)
    owners = {o.email.lower() for o in page.calendar_owners.all()}
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
            errors[str(key)] = ["No such calendar on this page."]
            continue
        if not isinstance(role, str) or role not in valid_roles:
            errors[str(key)] = [f"Unknown role {role!r}."]
            continue
        if problem := role_problem(ref, role, page.owner):
            errors[str(key)] = [problem]
            continue
        wanted[ref] = role
    if errors:
        return errors
    current = {pc.calendar_id: pc.role for pc in page.page_calendars.all()}
    final = {**current, **{ref.pk: role for ref, role in wanted.items()}}
    mains = [pk for pk, role in final.items() if role == CalendarRole.MAIN]
    if len(mains) > 1:
        return {"roles": ["Choose exactly one main booking calendar."]}
    save_roles(page, {ref.pk: role for ref, role in wanted.items()})
    return {}


router = DefaultRouter()
router.register("pages", PageViewSet, basename="staff-page")
