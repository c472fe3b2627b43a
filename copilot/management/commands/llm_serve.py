import importlib.util
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from copilot.local_llm.assembly import INSTALL_HINT, LocalModelError, model_prepare
from copilot.local_llm.catalog import MODEL_DEFAULT, MODEL_SPECS, model_spec_get
from copilot.local_llm.health import LOCAL_LLM_STATUS_FILENAME
from copilot.local_llm.server import API_KEY_ENV
from copilot.local_llm.supervisor import LocalLLMSupervisor, LocalLLMSupervisorError, local_llm_command_build


class Command(BaseCommand):
    help = (
        "Serve a packaged local model with llama.cpp's OpenAI-compatible server on 127.0.0.1, "
        "restarting it when it dies, until Ctrl-C or SIGTERM."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--model", choices=list(MODEL_SPECS), default=getattr(settings, "LOCAL_LLM_MODEL", MODEL_DEFAULT)
        )
        parser.add_argument("--port", type=int, default=getattr(settings, "LOCAL_LLM_PORT", 8181))
        parser.add_argument("--threads", type=int, default=getattr(settings, "LOCAL_LLM_THREADS", 2))
        parser.add_argument("--ctx", type=int, default=getattr(settings, "LOCAL_LLM_CONTEXT", 4096))

    def handle(self, *args, model: str, port: int, threads: int, ctx: int, **options):
        spec = model_spec_get(key=model)
        expected = getattr(settings, "LOCAL_LLM_SHA256", {}).get(spec.key)
        if not expected:
            raise CommandError(
                f"No SHA-256 is pinned for {spec.key}: set LOCAL_LLM_SHA256[{spec.key!r}] in the settings. "
                "Unverified model files are never loaded."
            )
        # Checked before the model is assembled: joining a gigabyte first and then failing is a poor trade.
        if importlib.util.find_spec("xllamacpp") is None:
            raise CommandError(f"xllamacpp is not installed; install the local LLM profile with `{INSTALL_HINT}`.")
        data_dir = Path(settings.DATA_DIR)
        try:
            path, _ = model_prepare(spec=spec, target_dir=data_dir / "models", expected_sha256=expected)
        except (LocalModelError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        api_key = getattr(settings, "LOCAL_LLM_API_KEY", "")
        supervisor = LocalLLMSupervisor(
            command=local_llm_command_build(model=path, port=port, threads=threads, ctx=ctx, alias=spec.key),
            port=port,
            status_file=data_dir / LOCAL_LLM_STATUS_FILENAME,
            extra_env={API_KEY_ENV: api_key} if api_key else None,
        )
        # The child prints its own JSON "ready" line on this same stdout once the model is loaded.
        self.stdout.write(f"{spec.title}: loading {path.name} on 127.0.0.1:{port} with {threads} threads, ctx {ctx}")
        try:
            supervisor.run()
        except LocalLLMSupervisorError as exc:
            raise CommandError(str(exc)) from exc
        status = supervisor.status
        self.stdout.write(f"Local LLM server stopped after {status.restarts} restart(s).")
