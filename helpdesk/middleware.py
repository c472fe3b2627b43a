"""Content-Security-Policy for the pages we render that show user or curated text: the agent
console, the demo shop that embeds the widget, and the help centre (articles are Markdown
turned into sanitized HTML). Scripts come only from our own origin, so injected markup
cannot run even if escaping or sanitizing were ever missed.

And a 400 for a request whose address, query string, headers or cookies hold text PostgreSQL
cannot store (``BadInputMiddleware``)."""

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

_COMMON = (
    "default-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
CONTENT_SECURITY_POLICIES = {
    "/console/": f"{_COMMON}; style-src 'self'",
    # The widget puts its stylesheet in a <style> inside its shadow root, as embeddable widgets do.
    "/demo/": f"{_COMMON}; style-src 'self' 'unsafe-inline'",
    "/help/": f"{_COMMON}; style-src 'self'",
}


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        for prefix, policy in CONTENT_SECURITY_POLICIES.items():
            if request.path.startswith(prefix):
                response.headers.setdefault("Content-Security-Policy", policy)
        return response


# PostgreSQL refuses NUL in text, and a lone surrogate cannot be encoded for it; either in a
# lookup ended as a 500 (a query parameter, a path id, a token, a session cookie, the user agent
# django-axes stores for a failed login).
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def _shown(text: str) -> str:
    return _BAD_TEXT.sub(lambda found: f"\\u{ord(found.group()):04x}", text)[:100]


def request_text_problem(request: HttpRequest) -> str | None:
    """What in the request's address, query string, headers or cookies holds a NUL or a lone
    surrogate, in words; ``None`` if nothing does."""
    if _BAD_TEXT.search(request.path_info):
        return "The address contains a NUL or surrogate character."
    for name, values in request.GET.lists():
        if _BAD_TEXT.search(name) or any(_BAD_TEXT.search(value) for value in values):
            return f"The query parameter '{_shown(name)}' contains a NUL or surrogate character."
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and _BAD_TEXT.search(value):
            header = key.removeprefix("HTTP_").replace("_", "-").title()
            return f"The {header} header contains a NUL or surrogate character."
    for name, value in request.COOKIES.items():
        if _BAD_TEXT.search(name) or _BAD_TEXT.search(value):
            return f"The cookie '{_shown(name)}' contains a NUL or surrogate character."
    return None


class BadInputMiddleware:
    """A 400 for a request whose address, query string, headers or cookies hold text PostgreSQL
    cannot store, before any view, session or login lookup sees it. JSON bodies are checked by
    ``helpdesk.api.parsers.StrictJSONParser``; Django's forms refuse NUL themselves."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = request_text_problem(request)
        if problem is None:
            return self.get_response(request)
        if request.path_info.startswith("/api/"):
            return JsonResponse({"detail": problem}, status=400)
        return HttpResponseBadRequest(problem, content_type="text/plain; charset=utf-8")
