"""The OpenAPI schema's view of errors (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS).

drf-spectacular documents what a view says it returns; the answers DRF and our middleware give
on a view's behalf were missing, so a client (and the fuzzer in tests/fuzz/) met status codes
the schema never named. Each operation now lists the ones that can reach it:

- 400 everywhere: a bad query parameter, path or header (``helpdesk.middleware.BadInputMiddleware``),
  a bad JSON body (``helpdesk.api.parsers.StrictJSONParser``) or a serializer's refusal;
- 401 and 403 where a permission is checked (401 only when the first authenticator names a scheme
  for ``WWW-Authenticate``, as DRF decides);
- 404 for a path id nothing has, and for a page past the last on paginated lists;
- 415 where a JSON body is read;
- 429 where a throttle applies.

A view's own declaration of a code wins.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions

# DRF answers a validation error as {"field": ["message"]}, a parse error as {"detail": "..."},
# and a service's refusal without a field as ["message"].
VALIDATION_ERROR = {
    "oneOf": [
        {"type": "object", "additionalProperties": {}},
        {"type": "array", "items": {"type": "string"}},
    ],
    "description": 'The refused fields, as {"field": ["message"]}, or {"detail": "message"}',
}


def _error(description: str) -> OpenApiResponse:
    # Imported here: this class is loaded while the views that import the serializers are defined.
    from helpdesk.api.errors import ErrorSerializer

    return OpenApiResponse(ErrorSerializer, description=description)


class AutoSchema(SpectacularAutoSchema):
    def _error_responses(self) -> dict[str, OpenApiResponse]:
        view = self.view
        errors = {"400": OpenApiResponse(VALIDATION_ERROR, description="Bad input")}
        if not all(isinstance(p, permissions.AllowAny) for p in view.get_permissions()):
            authenticators = view.get_authenticators()
            if authenticators and authenticators[0].authenticate_header(None):
                errors["401"] = _error("No credentials, or credentials that are not valid")
            errors["403"] = _error("Not allowed for these credentials")
        if self.path_regex and "(?P<" in self.path_regex or getattr(view, "pagination_class", None):
            errors["404"] = _error("Not found (or, for a list, a page past the last)")
        if self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None:
            errors["415"] = _error("The body is not JSON")
        if view.get_throttles():
            errors["429"] = _error("Too many requests; the Retry-After header says when to try again")
        return errors

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, response in self._error_responses().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses
