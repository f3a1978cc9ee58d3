"""A staff member's own profile page: their photo for team pages, uploaded (PNG, JPEG or
WebP by content, at most 200 KB), shown back to them, replaced and removed."""

from __future__ import annotations

import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from bookings.models import MAX_PHOTO_BYTES, StaffProfile
from tests.base import BaseTestCase

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64


def upload(data: bytes, name: str = "me.png", kind: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=kind)


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class StaffProfileTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client.force_login(self.alice)

    def post_photo(self, data: bytes, **kwargs: str):  # type: ignore[no-untyped-def]
        return self.client.post(
            "/staff/profile/", {"action": "upload", "photo": upload(data, **kwargs)}
        )

    def text(self, response) -> str:  # type: ignore[no-untyped-def]
        return re.sub(r"\s+", " ", response.content.decode())

    def test_the_dashboard_links_to_the_profile_page(self) -> None:
        self.assertContains(self.client.get("/dashboard/"), 'href="/staff/profile/"')
        r = self.client.get("/staff/profile/")
        self.assertContains(r, "No photo yet")

    def test_a_png_jpeg_or_webp_photo_is_stored_with_the_type_its_content_has(self) -> None:
        for data, kind in ((PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")):
            # The uploaded name and declared type don't count: the bytes do.
            r = self.post_photo(data, name="photo.gif", kind="application/octet-stream")
            self.assertRedirects(r, "/staff/profile/", fetch_redirect_response=False)
            profile = StaffProfile.objects.get(user=self.alice)
            self.assertEqual((bytes(profile.photo), profile.photo_type), (data, kind))
            photo = self.client.get("/staff/profile/photo")
            self.assertEqual(photo.status_code, 200)
            self.assertEqual(photo["Content-Type"], kind)
            self.assertEqual(photo["X-Content-Type-Options"], "nosniff")
            self.assertEqual(photo.content, data)
        self.assertContains(self.client.get("/staff/profile/"), 'id="current-photo"')

    def test_a_photo_over_200_kb_is_refused_and_says_how_big_it_was(self) -> None:
        big = PNG + b"\x00" * (MAX_PHOTO_BYTES + 1024)
        r = self.post_photo(big)
        self.assertEqual(r.status_code, 400)
        self.assertIn("a photo may be at most 200 KB.", self.text(r))
        self.assertIn(f"This photo is {len(big) // 1024} KB", self.text(r))
        self.assertFalse(StaffProfile.objects.filter(user=self.alice).exists())

    def test_exactly_200_kb_is_allowed(self) -> None:
        data = PNG + b"\x00" * (MAX_PHOTO_BYTES - len(PNG))
        self.assertEqual(self.post_photo(data).status_code, 302)

    def test_a_file_that_isnt_a_png_jpeg_or_webp_is_refused(self) -> None:
        for data in (b"GIF89a" + b"\x00" * 20, b"<svg xmlns='http://www.w3.org/2000/svg'/>"):
            r = self.post_photo(data, name="me.png", kind="image/png")
            self.assertEqual(r.status_code, 400)
            self.assertIn("Upload a PNG, JPEG or WebP image.", self.text(r))
        self.assertFalse(StaffProfile.objects.filter(user=self.alice).exists())

    def test_an_upload_without_a_file_asks_for_one(self) -> None:
        r = self.client.post("/staff/profile/", {"action": "upload"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("This field is required.", self.text(r))
        r = self.client.post("/staff/profile/", {"action": "paint"})
        self.assertEqual(r.status_code, 400)

    def test_the_photo_is_replaced_then_removed(self) -> None:
        self.post_photo(PNG)
        self.post_photo(JPEG, name="me.jpg", kind="image/jpeg")
        self.assertEqual(StaffProfile.objects.get(user=self.alice).photo_type, "image/jpeg")
        r = self.client.post("/staff/profile/", {"action": "remove"})
        self.assertRedirects(r, "/staff/profile/", fetch_redirect_response=False)
        profile = StaffProfile.objects.get(user=self.alice)
        self.assertEqual((bytes(profile.photo), profile.photo_type), (b"", ""))
        self.assertEqual(self.client.get("/staff/profile/photo").status_code, 404)
        self.assertContains(self.client.get("/staff/profile/"), "No photo yet")

    def test_the_profile_is_always_the_signed_in_users_own(self) -> None:
        self.post_photo(PNG)
        self.client.force_login(self.bob)
        self.assertEqual(self.client.get("/staff/profile/photo").status_code, 404)
        self.client.post("/staff/profile/", {"action": "remove"})
        self.assertEqual(StaffProfile.objects.get(user=self.alice).photo_type, "image/png")
