from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from bookings import branding_views, languages
from scheduler_site import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages that name no icon (Django admin's).
    path("favicon.ico", views.favicon),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/", include("bookings.api_urls")),
    path("", views.index, name="index"),
    path("", include("calendars.urls")),
    path("", include("bookings.staff_urls")),
    path("", include("bookings.webhook_urls")),
    path("branding/site.css", branding_views.site_css, name="branding-site-css"),
    path("branding/logo", branding_views.site_logo, name="branding-logo"),
    path("branding/pages/<slug:slug>.css", branding_views.page_css, name="branding-page-css"),
    path("branding/pages/<slug:slug>/image", branding_views.page_image, name="branding-page-image"),
    # booking.js's texts in a page's language (Django's JavaScript catalog, our own origin).
    path("jsi18n/<str:language>.js", languages.js_catalog, name="js-catalog"),
    # Last: public booking pages live at /<slug>/ (slugs can't take the app's own paths).
    path("", include("bookings.urls")),
]
