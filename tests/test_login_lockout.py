"""Sign-in throttling with django-axes, on the staff sign-in and the Django admin's: five
failures from one client for one username lock that pair out for LOGIN_LOCKOUT_MINUTES."""

from __future__ import annotations

from datetime import timedelta

from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client, override_settings

from tests.base import BaseTestCase

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/?next=/admin/"
LOCKED = "Too many failed sign-ins"


class LockoutTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client = Client(REMOTE_ADDR="203.0.113.7")

    def sign_in(self, password: str, username: str = "alice", url: str = LOGIN, client=None):  # type: ignore[no-untyped-def]
        return (client or self.client).post(url, {"username": username, "password": password})

    def fail(self, times: int, **kwargs):  # type: ignore[no-untyped-def]
        for _ in range(times):
            response = self.sign_in("wrong-password", **kwargs)
        return response

    def test_four_failures_still_get_the_ordinary_message(self) -> None:
        response = self.fail(4)

        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Please enter a correct username and password")
        self.assertNotContains(response, LOCKED)

    def test_the_fifth_failure_locks_the_account_out_for_this_client(self) -> None:
        response = self.fail(5)

        self.assertEqual(response.status_code, 429)
        self.assertContains(response, LOCKED, status_code=429)
        self.assertContains(response, "try again in 15 minutes", status_code=429)
        self.assertEqual(response["Retry-After"], "900")
        # Still the sign-in page, with its form, and not the misleading "wrong password".
        self.assertContains(response, ">Sign in</button>", status_code=429)
        self.assertNotContains(response, "Please enter a correct", status_code=429)

    def test_while_locked_out_even_the_right_password_is_refused(self) -> None:
        self.fail(5)

        response = self.sign_in("alice-password")

        self.assertEqual(response.status_code, 429)
        self.assertContains(response, LOCKED, status_code=429)
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_the_lockout_ends_after_the_cool_off(self) -> None:
        self.fail(5)
        AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))

        response = self.sign_in("alice-password")

        self.assertEqual(response.status_code, 302)
        self.assertIn("_auth_user_id", self.client.session)

    @override_settings(AXES_COOLOFF_TIME=timedelta(minutes=1))
    def test_the_message_tells_the_configured_wait(self) -> None:
        response = self.fail(5)

        self.assertContains(response, "try again in 1 minute,", status_code=429)
        self.assertEqual(response["Retry-After"], "60")

    def test_another_account_from_the_same_client_is_not_locked(self) -> None:
        self.fail(5)

        response = self.sign_in("bob-password", username="bob")

        self.assertEqual(response.status_code, 302)

    def test_the_same_account_from_another_client_is_not_locked(self) -> None:
        self.fail(5)

        response = self.sign_in("alice-password", client=Client(REMOTE_ADDR="198.51.100.1"))

        self.assertEqual(response.status_code, 302)

    def test_a_successful_sign_in_starts_the_count_again(self) -> None:
        self.fail(4)
        self.assertEqual(self.sign_in("alice-password").status_code, 302)
        self.client.logout()

        response = self.fail(4)

        self.assertEqual(response.status_code, 200)

    @override_settings(TRUSTED_PROXIES=["10.0.0.5/32"])
    def test_behind_a_trusted_proxy_the_client_it_names_is_locked_out(self) -> None:
        nginx = Client(REMOTE_ADDR="10.0.0.5")
        for _ in range(5):
            last = nginx.post(
                LOGIN,
                {"username": "alice", "password": "nope"},
                headers={"X-Forwarded-For": "203.0.113.7"},
            )
        self.assertEqual(last.status_code, 429)

        other = nginx.post(
            LOGIN,
            {"username": "alice", "password": "alice-password"},
            headers={"X-Forwarded-For": "198.51.100.1"},
        )

        self.assertEqual(other.status_code, 302)
        self.assertEqual(
            list(AccessAttempt.objects.values_list("ip_address", flat=True)), ["203.0.113.7"]
        )

    def test_the_admin_sign_in_is_locked_out_the_same_way(self) -> None:
        response = self.fail(5, username="charlie", url=ADMIN_LOGIN)

        self.assertEqual(response.status_code, 429)
        self.assertContains(response, LOCKED, status_code=429)
        self.assertContains(response, 'id="login-form"', status_code=429)  # admin's own page
        refused = self.sign_in("charlie-password", username="charlie", url=ADMIN_LOGIN)
        self.assertEqual(refused.status_code, 429)
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_failures_on_either_sign_in_page_add_up(self) -> None:
        self.fail(3, username="charlie", url=ADMIN_LOGIN)

        response = self.fail(2, username="charlie")

        self.assertEqual(response.status_code, 429)

    def test_attempts_are_stored_without_the_password(self) -> None:
        self.fail(2)

        (attempt,) = AccessAttempt.objects.all()
        self.assertEqual(attempt.failures_since_start, 2)
        self.assertNotIn("wrong-password", attempt.post_data + attempt.get_data)
