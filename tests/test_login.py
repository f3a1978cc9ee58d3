"""Signing in and out, the front page, and password reset by email (Django auth's views)."""

from __future__ import annotations

import re

from django.core import mail
from django.test import Client

from tests.base import BaseTestCase


def signs_in(client: Client, username: str, password: str) -> bool:
    """Through the sign-in form, as a person would (Client.login() has no request, which
    django-axes' backend needs)."""
    client.logout()
    client.post("/accounts/login/", {"username": username, "password": password})
    return "_auth_user_id" in client.session


class LoginTestCase(BaseTestCase):
    def test_the_login_page_has_labelled_fields_and_a_sign_in_button(self) -> None:
        response = self.client.get("/accounts/login/")

        self.assertContains(response, '<label for="id_username">Username</label>', html=True)
        self.assertContains(response, '<label for="id_password">Password</label>', html=True)
        self.assertContains(response, ">Sign in</button>")
        self.assertContains(response, 'href="/accounts/password_reset/"')

    def test_signing_in_leads_to_the_dashboard(self) -> None:
        response = self.client.post(
            "/accounts/login/", {"username": "alice", "password": "alice-password"}, follow=True
        )

        self.assertRedirects(response, "/dashboard/", fetch_redirect_response=False)
        self.assertContains(response, "<h1>Dashboard</h1>", html=True)

    def test_a_wrong_password_is_refused_with_a_message(self) -> None:
        response = self.client.post("/accounts/login/", {"username": "alice", "password": "nope"})

        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Please enter a correct username and password")
        self.assertNotContains(response, 'value="nope"')
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_the_next_parameter_survives_the_login_form(self) -> None:
        response = self.client.get("/connection/")
        self.assertRedirects(response, "/accounts/login/?next=/connection/")

        login = self.client.get(response["Location"])
        self.assertContains(login, 'name="next" value="/connection/"')

        response = self.client.post(
            "/accounts/login/",
            {"username": "alice", "password": "alice-password", "next": "/connection/"},
        )
        self.assertRedirects(response, "/connection/")

    def test_signing_out_takes_a_post_and_says_so(self) -> None:
        self.client.force_login(self.alice)

        page = self.client.get("/dashboard/")
        self.assertContains(page, 'action="/accounts/logout/"')
        response = self.client.post("/accounts/logout/")

        self.assertContains(response, "You're signed out")
        self.assertEqual(self.client.get("/dashboard/").status_code, 302)

    def test_the_front_page_describes_the_product_to_visitors(self) -> None:
        response = self.client.get("/")

        self.assertContains(response, "<h1>Exchange Scheduler</h1>", html=True)
        self.assertContains(response, 'href="/accounts/login/"')
        self.assertNotContains(response, "Sign out")

    def test_the_front_page_sends_signed_in_staff_to_the_dashboard(self) -> None:
        self.client.force_login(self.alice)

        self.assertRedirects(self.client.get("/"), "/dashboard/")

    def test_only_superusers_see_the_admin_link(self) -> None:
        self.client.force_login(self.alice)
        self.assertNotContains(self.client.get("/dashboard/"), 'href="/admin/"')

        self.client.force_login(self.charlie)
        self.assertContains(self.client.get("/dashboard/"), 'href="/admin/"')


class PasswordResetTestCase(BaseTestCase):
    def test_a_reset_link_is_emailed_and_sets_a_new_password(self) -> None:
        response = self.client.post(
            "/accounts/password_reset/", {"email": "alice@contoso.example"}, follow=True
        )
        self.assertContains(response, "Check your email")
        (message,) = mail.outbox
        self.assertEqual(message.to, ["alice@contoso.example"])
        self.assertEqual(message.subject, "Reset your Exchange Scheduler password")
        link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body)
        assert link, message.body

        form = self.client.get(link.group(1), follow=True)
        self.assertContains(form, "Choose a new password")
        new_password = "a-much-better-passphrase"
        done = self.client.post(
            form.redirect_chain[-1][0],
            {"new_password1": new_password, "new_password2": new_password},
            follow=True,
        )

        self.assertContains(done, "Your password is set")
        self.assertTrue(signs_in(self.client, "alice", new_password))

    def test_an_unknown_address_gets_the_same_answer_and_no_email(self) -> None:
        response = self.client.post(
            "/accounts/password_reset/", {"email": "nobody@contoso.example"}, follow=True
        )

        self.assertContains(response, "Check your email")
        self.assertEqual(mail.outbox, [])

    def test_a_used_or_forged_link_says_it_has_expired(self) -> None:
        response = self.client.get("/accounts/reset/MQ/set-password/", follow=True)

        self.assertContains(response, "This reset link has expired or was already used.")

    def test_a_signed_in_user_can_change_their_password(self) -> None:
        self.client.force_login(self.alice)
        new_password = "another-long-passphrase"

        response = self.client.post(
            "/accounts/password_change/",
            {
                "old_password": "alice-password",
                "new_password1": new_password,
                "new_password2": new_password,
            },
            follow=True,
        )

        self.assertContains(response, "Your password is changed")
        self.assertTrue(signs_in(self.client, "alice", new_password))
