"""What a websocket frame may hold once it parses as JSON (helpdesk/consumers.py).

PostgreSQL stores no NUL and no lone surrogate, and a reply that echoed one could not even be
encoded: such a frame used to end as a database "outage" the widget retried for ever, or as
daphne's 1011. Every real frame is at most two levels deep.
"""

MAX_FRAME_DEPTH = 8


def frame_problem(*, content: dict) -> str:
    """Why a parsed frame cannot be used, naming where; "" when it can."""
    stack: list[tuple[object, str, int]] = [(content, "frame", 1)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_FRAME_DEPTH:
            return f"The frame is nested too deeply at {where[:60]!r} (at most {MAX_FRAME_DEPTH} levels)."
        if isinstance(value, dict):
            for key, item in value.items():
                if problem := _text_problem(key, f"a key in {where}"):
                    return problem
                stack.append((item, key, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, where, depth + 1) for item in value)
        elif isinstance(value, str) and (problem := _text_problem(value, where)):
            return problem
    return ""


def _text_problem(text: str, where: str) -> str:
    if "\x00" in text:
        return f"{where[:60]!r} contains a NUL character."
    try:
        text.encode()
    except UnicodeEncodeError:
        return f"{where[:60]!r} is not valid Unicode (a lone surrogate)."
    return ""
