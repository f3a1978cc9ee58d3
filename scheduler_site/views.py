from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render


def index(request: HttpRequest) -> HttpResponse:
    """The product's front door: what it is for visitors, the dashboard for staff."""
    if request.user.is_authenticated:
        return redirect("dashboard")
    return render(request, "index.html")


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: answers 200 only when the database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return JsonResponse({"database": "unavailable"}, status=503)
    return JsonResponse({"database": "ok"})
