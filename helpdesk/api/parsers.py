"""The REST API's only body parser (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES): JSON, and only JSON
that the rest of the stack can hold.

Python's decoder raises ``RecursionError`` a thousand levels down, and PostgreSQL refuses a NUL
character in text and in ``jsonb``, a lone surrogate cannot be encoded for it at all, and a
non-finite number (``1e999``) is no JSON value it accepts. Each of those used to reach a view, a
serializer's ``JSONField`` or the database and end as a 500. Here they are a 400 that says where
in the document the bad value is, before any view runs; serializers then check shapes as before.

Forms are not parsed: the widget, the console and the integrations all send JSON, and a second
format would be a second door for unchecked text.
"""

import math
import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Deeper than any payload the API documents (the deepest, an integration's analytics event, is a
# handful of levels); far below the decoder's recursion limit.
MAX_DEPTH = 64
# A key path in an error message is cut to this many characters: the path of a 64-deep document
# can be long, and it is echoed to whoever sent it.
MAX_PATH_CHARS = 200

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def _segment_safe(text: str) -> str:
    """A key as it can be shown: NUL and surrogates escaped, so the error itself can be encoded."""
    return _BAD_TEXT.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def _path_text(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{_segment_safe(part)}" if text else _segment_safe(part))
    text = text or "(the document)"
    return text if len(text) <= MAX_PATH_CHARS else text[: MAX_PATH_CHARS - 1] + "…"


def _text_problem(text: str) -> str | None:
    found = _BAD_TEXT.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "a NUL character (U+0000), which is not allowed"
    return f"a lone surrogate (U+{ord(found.group()):04X}), which is not valid Unicode"


def json_document_check(data: object, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``ParseError`` naming the first key path that nests deeper than ``max_depth``, or
    whose key or text holds a NUL or a lone surrogate, or whose number is not finite.

    Iterative, so a document as deep as the decoder allows is walked without recursion."""
    stack: list[tuple[tuple, object, int]] = [((), data, 1)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > max_depth:
                raise ParseError(f'JSON parse error - "{_path_text(path)}" is nested deeper than {max_depth} levels.')
            if isinstance(value, list):
                stack.extend(((*path, index), item, depth + 1) for index, item in enumerate(value))
                continue
            for key, item in value.items():
                problem = _text_problem(key)
                if problem:
                    raise ParseError(f'JSON parse error - the key "{_path_text((*path, key))}" contains {problem}.')
                stack.append(((*path, key), item, depth + 1))
        elif isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                raise ParseError(f'JSON parse error - "{_path_text(path)}" contains {problem}.')
        elif isinstance(value, float) and not math.isfinite(value):
            raise ParseError(f'JSON parse error - "{_path_text(path)}" is a number too large to hold.')


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, plus ``json_document_check``: a bad document is a 400, never a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type=media_type, parser_context=parser_context)
        except RecursionError as exc:
            raise ParseError(f"JSON parse error - the document is nested deeper than {MAX_DEPTH} levels.") from exc
        json_document_check(data)
        return data
