"""Content-Security-Policy for the pages we render that show user or curated text: the agent
console, the demo shop that embeds the widget, and the help centre (articles are Markdown
turned into sanitized HTML). Scripts come only from our own origin, so injected markup
cannot run even if escaping or sanitizing were ever missed."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

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
