"""What /health can say about the local LLM: one live probe of the server plus the supervisor's status file.

Pure standard library, no Django: the supervisor uses the same probe to decide when a child is
ready. The live answer is the truth about "loaded"; the status file (written by
``copilot.local_llm.supervisor``) adds what a probe cannot know, such as how often the server
was restarted. The file is not trusted for liveness: a SIGKILLed supervisor leaves its last
state behind, so ``updated_at`` is passed on for the reader to judge.

llama.cpp's server answers ``GET /health`` without an API key: 503 with
``{"error": {"code": 503, "message": "Loading model", ...}}`` while it loads, 200
``{"status": "ok"}`` once it can serve. ``GET /v1/models`` lists the one loaded model (and needs
the key when one is set).
"""

import http.client
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

LOCAL_LLM_STATUS_FILENAME = "local-llm.json"
# What the supervisor's status file may contribute; anything else in it is ignored.
STATUS_FIELDS = ("state", "restarts", "last_exit_code", "pid", "load_seconds", "next_start_in", "updated_at")
ERROR_TEXT_LIMIT = 200

# The server is on loopback: an HTTP(S)_PROXY from the environment must never be asked for it.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def local_llm_root_url(*, base_url: str) -> str:
    """``http://127.0.0.1:8181`` from that or from the OpenAI-style ``.../v1`` a client is given."""
    root = base_url.strip().rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root


def local_llm_http_get(*, url: str, timeout: float, api_key: str | None = None) -> tuple[int | None, Any, str]:
    """(HTTP status or None when unreachable, parsed JSON body or None, error text); never raises."""
    if not url.startswith(("http://", "https://")):
        return None, None, f"not an http(s) URL: {url!r}"
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - the scheme is checked above
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status, _json_or_none(response.read()), ""
    except urllib.error.HTTPError as exc:
        # A 503 while loading is an answer, not a failure to reach the server.
        try:
            body = _json_or_none(exc.read())
        except (OSError, http.client.HTTPException):
            body = None
        finally:
            exc.close()
        return exc.code, body, _error_message(body) or f"HTTP {exc.code}"
    except urllib.error.URLError as exc:
        return None, None, str(exc.reason)[:ERROR_TEXT_LIMIT]
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return None, None, f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_LIMIT]


def local_llm_status_get(
    *, base_url: str, status_file: Path | None, timeout: float = 0.5, api_key: str | None = None
) -> dict:
    """Whether the local model is loaded and answering, for /health; never raises, even for a down server.

    ``{"loaded": bool, "url": str, "model": str | None}``, plus ``"error"`` when the server is
    unreachable or not ready, and the supervisor's ``state``, ``restarts``, ``last_exit_code``,
    ``pid``, ``load_seconds``, ``next_start_in`` and ``updated_at`` when its status file exists.
    At most two requests, each bounded by ``timeout``.
    """
    root = local_llm_root_url(base_url=base_url)
    result: dict[str, Any] = {"loaded": False, "url": root, "model": None}
    status, _, error = local_llm_http_get(url=f"{root}/health", timeout=timeout)
    if status == 200:
        result["loaded"] = True
        result["model"] = _model_id(root=root, timeout=timeout, api_key=api_key)
    elif status is None:
        result["error"] = f"unreachable: {error}"
    else:
        result["error"] = error
    result.update(local_llm_status_file_read(path=status_file))
    return result


def local_llm_status_file_read(*, path: Path | None) -> dict[str, Any]:
    """The supervisor's fields from its status file; empty when there is none or it cannot be read."""
    if path is None:
        return {}
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(payload, dict):
        return {}
    return {key: payload[key] for key in STATUS_FIELDS if key in payload}


def _model_id(*, root: str, timeout: float, api_key: str | None) -> str | None:
    status, body, _ = local_llm_http_get(url=f"{root}/v1/models", timeout=timeout, api_key=api_key)
    if status != 200 or not isinstance(body, dict):
        return None
    data = body.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        return None
    model = data[0].get("id")
    return model if isinstance(model, str) else None


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _error_message(body: Any) -> str:
    # llama.cpp's errors look like OpenAI's: {"error": {"code": 503, "message": "Loading model", ...}}.
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
        if isinstance(message, str):
            return message[:ERROR_TEXT_LIMIT]
    return ""
