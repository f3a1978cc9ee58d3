from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from scheduler_site import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("", views.index, name="index"),
]
