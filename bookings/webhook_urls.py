"""Staff pages for webhook endpoints (bookings/webhook_views.py)."""

from django.urls import path

from bookings import webhook_views as views

urlpatterns = [
    path("webhooks/", views.webhook_list, name="webhook-list"),
    path("webhooks/<int:pk>/", views.webhook_detail, name="webhook-detail"),
    path(
        "webhooks/<int:pk>/deliveries/<int:delivery_pk>/send-again/",
        views.webhook_send_again,
        name="webhook-send-again",
    ),
]
