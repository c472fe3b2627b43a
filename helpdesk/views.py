from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from helpdesk.selectors import database_status_get, site_overview_get


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "helpdesk/home.html", {"overview": site_overview_get()})


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    try:
        database = database_status_get()
    except DatabaseError as exc:
        return JsonResponse({"status": "error", "database": {"ok": False, "error": str(exc)}}, status=503)
    status = 200 if database["ok"] else 503
    return JsonResponse({"status": "ok" if status == 200 else "error", "database": database}, status=status)
