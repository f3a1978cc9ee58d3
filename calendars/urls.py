"""Staff pages for the dashboard and the calendar connection (included at the site root)."""

from django.urls import path

from calendars import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("connection/", views.connection, name="connection"),
    path("connection/personal/", views.connect_personal, name="connection-personal"),
    path("connection/microsoft/", views.connect_microsoft, name="connection-microsoft"),
    path(
        "connection/microsoft/callback/",
        views.microsoft_callback,
        name="connection-microsoft-callback",
    ),
    path("connection/attach/", views.attach, name="connection-attach"),
    path("connection/confirm/<str:token>/", views.confirm_mailbox, name="connection-confirm"),
    path("connection/consent/", views.consent, name="connection-consent"),
    path("connection/disconnect/", views.disconnect, name="connection-disconnect"),
    path("connection/check/", views.check, name="connection-check"),
]
