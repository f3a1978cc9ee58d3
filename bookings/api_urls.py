"""/api/v1/: the public slots and booking endpoints, and the staff API (token auth)."""

from django.urls import include, path

from bookings import api, staff_api

urlpatterns = [
    path("pages/<slug:slug>/slots", api.slots, name="api-slots"),
    path("pages/<slug:slug>/bookings", api.create_booking, name="api-create-booking"),
    path("staff/", include(staff_api.router.urls)),
]
