"""Django admin's connection pages: the change form holds no secret (a password typed there
used to be thrown away while the page said "changed successfully"); the secret changes only
through its own action, "Change mailbox password" or "Rotate client secret", which checks it against
Exchange first; and each connection shows only the fields that apply to its kind and auth
type. Saving the change form moves the credential version only when something that signs in
changed."""

from __future__ import annotations

from typing import Any

import pytest
from django import forms
from django.contrib.messages import get_messages
from django.http import HttpResponse
from django.urls import reverse

from calendars.models import (
    AuthType,
    ConnectionKind,
    CredentialRotation,
    ExchangeConnection,
    RotationResult,
)
from tests.base import BaseTestCase
from tests.world import World

PUBLIC_EWS = "https://93.184.216.34/EWS/Exchange.asmx"  # an address literal: no DNS involved
PASSWORD = "the-stored-corporate-password"
CLIENT_SECRET = "the-stored-client-secret"
REFRESH_TOKEN = "the-stored-refresh-token"
SECRET_INPUTS = ("password", "new_secret", "oauth_client_secret", "oauth_refresh_token")
OAUTH_FIELDS = (
    "oauth_tenant",
    "oauth_authority",
    "oauth_client_id",
    "oauth_client_secret_expires_on",
)


def change_url(conn: ExchangeConnection) -> str:
    return reverse("admin:calendars_exchangeconnection_change", args=[conn.pk])


def rotate_url(conn: ExchangeConnection) -> str:
    return reverse("admin:calendars_exchangeconnection_rotate", args=[conn.pk])


def shown_fields(response: HttpResponse) -> set[str]:
    """Every field on the form, editable or read-only."""
    return {
        field.field["name"] if isinstance(field.field, dict) else field.field.name
        for fieldset in response.context["adminform"]
        for line in fieldset
        for field in line
    }


def as_posted(response: HttpResponse, **changes: Any) -> dict[str, Any]:
    """The change form's data as the browser would post it back, with `changes`."""
    form = response.context["adminform"].form
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else value
    for inline in response.context["inline_admin_formsets"]:  # read-only rows: none posted
        prefix = inline.formset.prefix
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    data |= changes
    return {k: v for k, v in data.items() if v is not None}


def messages_of(response: HttpResponse) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


class ConnectionFormTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client.force_login(self.charlie)
        self.corporate = ExchangeConnection.objects.create(
            kind=ConnectionKind.CORPORATE,
            email="booking-sync@contoso.example",
            ews_url=PUBLIC_EWS,
            password=PASSWORD,
        )

    def oauth_app(self) -> ExchangeConnection:
        return ExchangeConnection.objects.create(
            kind=ConnectionKind.PERSONAL,
            user=self.bob,
            email=self.bob.email,
            ews_url="https://outlook.office365.com/EWS/Exchange.asmx",
            auth_type=AuthType.OAUTH_APP,
            oauth_tenant="contoso.example",
            oauth_client_id="0b7d2c3e-1111-2222-3333-444455556666",
            oauth_client_secret=CLIENT_SECRET,
        )

    def signed_in_with_microsoft(self) -> ExchangeConnection:
        return ExchangeConnection.objects.create(
            kind=ConnectionKind.PERSONAL,
            user=self.alice,
            email=self.alice.email,
            ews_url="https://outlook.office365.com/EWS/Exchange.asmx",
            auth_type=AuthType.OAUTH_USER,
            oauth_refresh_token=REFRESH_TOKEN,
        )

    # --- no secret on the change form ---------------------------------------------------

    def test_the_change_form_has_no_secret_input_for_any_auth_type(self) -> None:
        for conn in (self.corporate, self.oauth_app(), self.signed_in_with_microsoft()):
            response = self.client.get(change_url(conn))

            self.assertEqual(response.status_code, 200)
            page = response.content.decode()
            self.assertNotIn('type="password"', page)
            for name in SECRET_INPUTS:
                self.assertNotIn(f'name="{name}"', page)
            for secret in (PASSWORD, CLIENT_SECRET, REFRESH_TOKEN):
                self.assertNotIn(secret, page)
            self.assertContains(response, "never shown")  # where the secret went

    def test_a_password_posted_to_the_change_form_changes_nothing_and_says_so(self) -> None:
        page = self.client.get(change_url(self.corporate))

        response = self.client.post(
            change_url(self.corporate),
            as_posted(page, password="typed-on-the-change-form", new_secret="typed-as-well"),
            follow=True,
        )

        self.corporate.refresh_from_db()
        self.assertEqual(self.corporate.password, PASSWORD)
        self.assertEqual(self.corporate.credential_version, 1)
        said = messages_of(response)
        self.assertIn(
            "The password was not changed: passwords and secrets change only with "
            "“Change mailbox password”, which checks them against Exchange first.",
            said,
        )
        self.assertFalse(
            [m for m in said if "password" in m.lower() and "not changed" not in m],
            "no message may suggest that the password changed",
        )
        self.assertNotIn("typed-on-the-change-form", response.content.decode())

    # --- the credential version -----------------------------------------------------------

    def test_saving_the_change_form_unchanged_keeps_the_credential_version(self) -> None:
        page = self.client.get(change_url(self.corporate))

        response = self.client.post(change_url(self.corporate), as_posted(page))

        self.assertEqual(response.status_code, 302)
        self.corporate.refresh_from_db()
        self.assertEqual(self.corporate.credential_version, 1)

    def test_changing_what_does_not_sign_in_keeps_the_credential_version(self) -> None:
        page = self.client.get(change_url(self.corporate))

        self.client.post(
            change_url(self.corporate),
            as_posted(page, members_may_book_into_any_calendar="on"),
        )

        self.corporate.refresh_from_db()
        self.assertTrue(self.corporate.members_may_book_into_any_calendar)
        self.assertEqual(self.corporate.credential_version, 1)

    def test_changing_what_signs_in_moves_the_credential_version(self) -> None:
        page = self.client.get(change_url(self.corporate))

        self.client.post(
            change_url(self.corporate), as_posted(page, username="CONTOSO\\booking-sync")
        )

        self.corporate.refresh_from_db()
        self.assertEqual(self.corporate.username, "CONTOSO\\booking-sync")
        self.assertEqual(self.corporate.credential_version, 2)
        self.assertEqual(self.corporate.password, PASSWORD)

    # --- the fields each connection shows -------------------------------------------------

    def test_a_basic_corporate_connection_shows_neither_oauth_fields_nor_an_owner(self) -> None:
        fields = shown_fields(self.client.get(change_url(self.corporate)))

        self.assertFalse(fields.intersection(OAUTH_FIELDS))
        self.assertNotIn("user", fields)
        self.assertIn("members_may_book_into_any_calendar", fields)
        self.assertTrue({"email", "username", "ews_url", "auth_type"} <= fields)

    def test_an_oauth_app_connection_shows_its_oauth_fields_and_its_owner(self) -> None:
        response = self.client.get(change_url(self.oauth_app()))
        fields = shown_fields(response)

        self.assertTrue(set(OAUTH_FIELDS) <= fields)
        self.assertIn("user", fields)
        self.assertNotIn("members_may_book_into_any_calendar", fields)
        form = response.context["adminform"].form
        # Read-only: another owner or another kind of credential is a new connection.
        for fixed in ("user", "kind", "auth_type"):
            self.assertNotIn(fixed, form.fields)

    def test_a_sign_in_with_microsoft_connection_shows_no_oauth_app_fields(self) -> None:
        fields = shown_fields(self.client.get(change_url(self.signed_in_with_microsoft())))

        self.assertFalse(fields.intersection(OAUTH_FIELDS))
        self.assertIn("user", fields)

    def test_a_basic_connection_may_become_ntlm_but_not_oauth(self) -> None:
        page = self.client.get(change_url(self.corporate))
        choices = [value for value, _ in page.context["adminform"].form.fields["auth_type"].choices]
        self.assertEqual(choices, [AuthType.BASIC, AuthType.NTLM])

        refused = self.client.post(
            change_url(self.corporate), as_posted(page, auth_type=AuthType.OAUTH_APP)
        )
        self.assertEqual(refused.status_code, 200)
        self.corporate.refresh_from_db()
        self.assertEqual(self.corporate.auth_type, AuthType.BASIC)

        self.client.post(change_url(self.corporate), as_posted(page, auth_type=AuthType.NTLM))
        self.corporate.refresh_from_db()
        self.assertEqual(self.corporate.auth_type, AuthType.NTLM)
        self.assertEqual(self.corporate.credential_version, 2)

    # --- the rotation action --------------------------------------------------------------

    def test_the_change_page_has_the_rotation_button_named_by_auth_type(self) -> None:
        for conn, label in (
            (self.corporate, "Change mailbox password"),
            (self.oauth_app(), "Rotate client secret"),
        ):
            response = self.client.get(change_url(conn))

            self.assertContains(
                response, f'<li><a href="{rotate_url(conn)}">{label}</a></li>', html=True
            )

    def test_a_sign_in_with_microsoft_connection_has_nothing_to_rotate(self) -> None:
        conn = self.signed_in_with_microsoft()

        response = self.client.get(change_url(conn))

        self.assertNotContains(response, rotate_url(conn))
        self.assertContains(response, "the owner connects with Microsoft again")
        self.assertEqual(self.client.get(rotate_url(conn)).status_code, 404)

    def test_the_list_links_each_connection_to_its_rotation(self) -> None:
        oauth = self.oauth_app()

        response = self.client.get(reverse("admin:calendars_exchangeconnection_changelist"))

        self.assertContains(
            response,
            f'<a href="{rotate_url(self.corporate)}">Change mailbox password</a>',
            html=True,
        )
        self.assertContains(
            response, f'<a href="{rotate_url(oauth)}">Rotate client secret</a>', html=True
        )

    def test_the_rotation_page_of_an_oauth_app_asks_for_the_secret_and_its_expiry(self) -> None:
        response = self.client.get(rotate_url(self.oauth_app()))

        self.assertContains(response, "New client secret")
        self.assertContains(response, "Client secret expires on")
        self.assertNotContains(response, CLIENT_SECRET)

    # --- the add form ---------------------------------------------------------------------

    def test_the_add_form_takes_the_secret_once_and_stores_it(self) -> None:
        self.corporate.delete()
        add = reverse("admin:calendars_exchangeconnection_add")
        page = self.client.get(add)
        self.assertContains(page, 'type="password"', count=1)
        self.assertNotIn(
            AuthType.OAUTH_USER,
            [value for value, _ in page.context["adminform"].form.fields["auth_type"].choices],
        )

        response = self.client.post(
            add,
            {
                "kind": ConnectionKind.CORPORATE,
                "email": "booking-sync@contoso.example",
                "ews_url": PUBLIC_EWS,
                "auth_type": AuthType.BASIC,
                "exchange_version": "auto",
                "new_secret": "the-first-password",
            },
        )

        self.assertEqual(response.status_code, 302)
        conn = ExchangeConnection.objects.get()
        self.assertEqual(conn.password, "the-first-password")
        self.assertEqual(conn.credential_version, 1)

    def test_the_add_form_asks_for_the_owner_of_a_personal_connection(self) -> None:
        response = self.client.post(
            reverse("admin:calendars_exchangeconnection_add"),
            {
                "kind": ConnectionKind.PERSONAL,
                "email": "bob@contoso.example",
                "ews_url": PUBLIC_EWS,
                "auth_type": AuthType.BASIC,
                "exchange_version": "auto",
                "new_secret": "bobs-password",
            },
        )

        self.assertEqual(response.status_code, 200)
        self.assertEqual(
            response.context["adminform"].form.errors["user"],
            ["A personal connection belongs to a staff member: choose one."],
        )


class RotationTestCase(BaseTestCase):
    """The rotation action, over the wire against the simulator."""

    @pytest.fixture(autouse=True)
    def _world(self, world: World) -> None:
        self.world = world

    def setUp(self) -> None:
        super().setUp()
        self.client.force_login(self.charlie)

    def test_a_password_exchange_refuses_is_not_saved_and_says_why(self) -> None:
        conn = self.world.corporate()
        stored = conn.password

        response = self.client.post(rotate_url(conn), {"new_secret": "not-the-password"})

        self.assertContains(
            response,
            f"Exchange refused this password for {conn.email}, so it was not saved.",
            status_code=400,
        )
        self.assertNotContains(response, "app password", status_code=400)  # on-premises: none
        self.assertNotContains(response, "not-the-password", status_code=400)
        conn.refresh_from_db()
        self.assertEqual((conn.password, conn.credential_version), (stored, 1))
        self.assertEqual(
            list(CredentialRotation.objects.values_list("result", flat=True)),
            [RotationResult.REJECTED],
        )

    def test_a_password_exchange_accepts_is_saved_and_moves_the_version(self) -> None:
        conn = self.world.corporate()
        self.world.sim.set_password(conn.email, "Rotated-Sync-Password-2")

        response = self.client.post(
            rotate_url(conn), {"new_secret": "Rotated-Sync-Password-2"}, follow=True
        )

        self.assertRedirects(response, change_url(conn))
        self.assertIn("Verified against Exchange and saved", messages_of(response))
        conn.refresh_from_db()
        self.assertEqual(conn.password, "Rotated-Sync-Password-2")
        self.assertEqual(conn.credential_version, 2)
        self.assertNotContains(response, "Rotated-Sync-Password-2")
