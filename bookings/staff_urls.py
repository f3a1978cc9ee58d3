"""Staff pages for booking pages, their calendars, and bookings."""

from django.urls import path

from bookings import staff_views as views

urlpatterns = [
    path("pages/", views.page_list, name="page-list"),
    path("pages/new/", views.page_new, name="page-new"),
    path("pages/<int:pk>/", views.page_edit, name="page-edit"),
    path("pages/<int:pk>/delete/", views.page_delete, name="page-delete"),
    path("pages/<int:pk>/deactivate/", views.page_deactivate, name="page-deactivate"),
    path("pages/<int:pk>/calendars/", views.page_calendars, name="page-calendars"),
    path("pages/<int:pk>/team/", views.page_team, name="page-team"),
    path(
        "pages/<int:pk>/team/<int:member_pk>/calendars/",
        views.member_calendars,
        name="member-calendars",
    ),
    path("pages/<int:pk>/team/<int:member_pk>/answer/", views.member_answer, name="member-answer"),
    path(
        "pages/<int:pk>/owner-hours/refresh/",
        views.page_owner_hours_refresh,
        name="page-owner-hours-refresh",
    ),
    path("staff/profile/", views.profile, name="staff-profile"),
    path("staff/profile/photo", views.profile_photo, name="staff-profile-photo"),
    path("bookings/", views.booking_list, name="booking-list"),
    path("bookings/export.csv", views.booking_export, name="booking-export"),
    path("bookings/<uuid:pk>/", views.booking_detail, name="booking-detail"),
    path("bookings/<uuid:pk>/cancel/", views.booking_cancel, name="booking-cancel"),
    path("bookings/<uuid:pk>/reschedule/", views.booking_reschedule, name="booking-reschedule"),
    path("bookings/<uuid:pk>/reassign/", views.booking_reassign, name="booking-reassign"),
    path(
        "bookings/<uuid:pk>/writes/<int:write_pk>/retry/",
        views.booking_retry_write,
        name="booking-retry-write",
    ),
]
