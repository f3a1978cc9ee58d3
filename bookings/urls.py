"""Public booking pages and the customer's manage link (included last, at the site root)."""

from django.urls import path

from bookings import api, views

urlpatterns = [
    path("manage/<str:token>/", views.manage, name="manage-booking"),
    path("manage/<str:token>/reschedule/", views.manage_reschedule, name="manage-reschedule"),
    path("manage/<str:token>/cancel/", views.manage_cancel, name="manage-cancel"),
    path("manage/<str:token>/slots", api.manage_slots, name="manage-slots"),
    path("manage/<str:token>/booking.ics", views.booking_ics, name="manage-booking-ics"),
    path("book/<slug:slug>/", views.public_page, name="public-page-alias"),
    path("<slug:slug>/", views.public_page, name="public-page"),
    path("<slug:slug>/book/", views.book, name="public-book"),
    path("<slug:slug>/confirmed/<str:token>/", views.confirmed, name="booking-confirmed"),
    path("<slug:slug>/members/<int:member_pk>/photo", views.member_photo, name="member-photo"),
]
