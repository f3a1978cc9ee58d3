"""Secrets are stored encrypted, re-encryptable under a new key, and never rendered."""

from io import StringIO

from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from calendars.models import AuthType, ConnectionKind, ExchangeConnection
from tests.base import BaseTestCase

PASSWORD = "Corp-Mailbox-Pa55word!"
CLIENT_SECRET = "client-secret-value-0123456789"
REFRESH_TOKEN = "refresh-token-value-abcdefghij"


def _raw_columns(pk: int) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT password, oauth_client_secret, oauth_refresh_token "
            "FROM calendars_exchangeconnection WHERE id = %s",
            [pk],
        )
        return b"|".join(bytes(v) for v in cursor.fetchone())


def _reset_fernet_caches() -> None:
    # fernet_fields caches its keys on the field objects; tests that change FERNET_KEYS
    # must drop them, as a process restart would.
    for field in ExchangeConnection._meta.concrete_fields:
        for attr in ("keys", "fernet_keys", "fernet"):
            field.__dict__.pop(attr, None)


class SecretsAtRestTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.conn = ExchangeConnection.objects.create(
            kind=ConnectionKind.CORPORATE,
            email="booking-sync@contoso.example",
            ews_url="https://mail.contoso.example/EWS/Exchange.asmx",
            auth_type=AuthType.BASIC,
            password=PASSWORD,
            oauth_client_secret=CLIENT_SECRET,
            oauth_refresh_token=REFRESH_TOKEN,
        )

    def tearDown(self) -> None:
        _reset_fernet_caches()
        super().tearDown()

    def test_the_database_holds_no_plaintext_secret(self) -> None:
        raw = _raw_columns(self.conn.pk)
        for secret in (PASSWORD, CLIENT_SECRET, REFRESH_TOKEN):
            assert secret.encode() not in raw
        assert raw.count(b"gAAAAA") == 3  # three Fernet tokens

    def test_secrets_read_back_decrypted(self) -> None:
        conn = ExchangeConnection.objects.get(pk=self.conn.pk)
        assert conn.password == PASSWORD
        assert conn.oauth_client_secret == CLIENT_SECRET

    def test_reencrypt_moves_every_secret_to_the_new_first_key(self) -> None:
        before = _raw_columns(self.conn.pk)
        with override_settings(FERNET_KEYS=["new-key-2026", "old-key"]):
            _reset_fernet_caches()
            with override_settings(FERNET_KEYS=["old-key"]):
                _reset_fernet_caches()
                self.conn.save()  # stored under the old key only
            _reset_fernet_caches()
            out = StringIO()
            call_command("reencrypt_secrets", stdout=out)
            assert "1 connection" in out.getvalue()
        with override_settings(FERNET_KEYS=["new-key-2026"]):
            _reset_fernet_caches()
            conn = ExchangeConnection.objects.get(pk=self.conn.pk)
            assert conn.password == PASSWORD
            assert conn.oauth_refresh_token == REFRESH_TOKEN
        assert _raw_columns(self.conn.pk) != before

    def test_the_admin_change_page_never_contains_a_secret(self) -> None:
        self.client.force_login(self.charlie)
        response = self.client.get(f"/admin/calendars/exchangeconnection/{self.conn.pk}/change/")
        assert response.status_code == 200
        for secret in (PASSWORD, CLIENT_SECRET, REFRESH_TOKEN):
            assert secret not in response.content.decode()
        assert b"Change mailbox password" in response.content

    def test_the_rotation_page_never_contains_the_password(self) -> None:
        self.client.force_login(self.charlie)
        response = self.client.get(f"/admin/calendars/exchangeconnection/{self.conn.pk}/rotate/")
        assert response.status_code == 200
        assert PASSWORD not in response.content.decode()
        assert b'type="password"' in response.content

    def test_staff_who_are_not_admins_cannot_open_the_connection_admin(self) -> None:
        self.client.force_login(self.alice)
        response = self.client.get(f"/admin/calendars/exchangeconnection/{self.conn.pk}/rotate/")
        assert response.status_code in (302, 403)
