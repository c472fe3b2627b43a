"""What ``/ready`` reports (reads only): Redis when the deployment uses it, and the copilot's engine."""

from django.conf import settings

PROBE_SECONDS = 2.0


def redis_status_get() -> dict | None:
    """None when no Redis is configured (development: in-memory layer, eager tasks)."""
    if not settings.REDIS_URL:
        return None
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=PROBE_SECONDS, socket_connect_timeout=PROBE_SECONDS
    )
    try:
        client.ping()
        return {"ok": True}
    except redis.RedisError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        client.close()


def llm_status_get() -> dict:
    """The configured engine, and for the openai one whether its server lists models in time.

    The offline engine needs nothing; when the model server is down the copilot answers with
    the offline engine, so this is reported, not required.
    """
    engine = settings.COPILOT_ENGINE
    if engine != "openai":
        return {"engine": engine, "ok": True}
    import openai

    client = openai.OpenAI(
        base_url=settings.OPENAI_BASE_URL or None,
        api_key=settings.OPENAI_API_KEY or "not-needed",
        timeout=PROBE_SECONDS,
        max_retries=0,
    )
    try:
        models = [model.id for model in client.models.list().data][:20]
    except openai.OpenAIError as exc:
        return {
            "engine": engine,
            "ok": False,
            "model": settings.COPILOT_MODEL,
            "error": f"{type(exc).__name__}: {exc}"[:300],
        }
    finally:
        client.close()
    return {
        "engine": engine,
        "ok": True,
        "model": settings.COPILOT_MODEL,
        "model_listed": settings.COPILOT_MODEL in models,
    }
