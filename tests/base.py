"""The shared base test case, with named users (after healthchecks' BaseTestCase)."""

from django.contrib.auth.models import User
from django.test import TestCase


class BaseTestCase(TestCase):
    """alice and bob are staff members; charlie is a superuser (a site admin)."""

    def setUp(self) -> None:
        super().setUp()
        self.alice = User.objects.create_user(
            "alice", "alice@contoso.example", "alice-password", is_staff=True
        )
        self.bob = User.objects.create_user(
            "bob", "bob@contoso.example", "bob-password", is_staff=True
        )
        self.charlie = User.objects.create_superuser(
            "charlie", "charlie@contoso.example", "charlie-password"
        )
