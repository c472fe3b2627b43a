"""The local LLM server process: llama.cpp's OpenAI-compatible HTTP server on loopback, through xllamacpp.

Run as ``python -m copilot.local_llm.server --model PATH --port N --threads T --ctx C [--api-key K]``,
normally by ``copilot.local_llm.supervisor``. It imports neither Django nor the project settings, so
the model lives in a process of its own and a llama.cpp crash or an out-of-memory kill takes down
only this process.

What a caller can rely on:

- stdout carries exactly one line, a JSON object, once the model is loaded and the server answers
  (llama.cpp itself logs to stderr only)::

      {"event": "ready", "url": "http://127.0.0.1:8181", "load_seconds": 1.9, "pid": 4242, "model": "..."}

- SIGTERM or SIGINT stops the server and the process exits 0.
- Exit 2: the arguments or the model file are unusable, so starting again will not help.
  Exit 1: llama.cpp refused to start (not a loadable GGUF, the port is taken, out of memory).
- When the parent process goes away, the server stops by itself within about a second, so a
  SIGKILLed supervisor leaves no orphan behind (checked once the model has loaded, see below).

``xllamacpp.Server(params)`` starts llama.cpp's HTTP server on a thread, loads the model and returns
only when the model is loaded (``RuntimeError`` otherwise). It holds the GIL all that time, so no
Python code runs during the load, signal handlers included: the default SIGTERM/SIGINT
dispositions stay in place until it returns, and a stop request during the load ends the process
at once. llama.cpp answers ``GET /health`` with 503 while loading and 200 ``{"status": "ok"}`` after.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

LOOPBACK = "127.0.0.1"
EXIT_FAILED = 1
EXIT_UNUSABLE = 2
# The supervisor passes the key this way: a command line is visible to every user in `ps`.
API_KEY_ENV = "LOCAL_LLM_API_KEY"
PARENT_CHECK_SECONDS = 1.0
MIN_CONTEXT = 256
INSTALL_HINT = "pip install -r requirements-local-llm.txt"


def server_arguments_parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m copilot.local_llm.server",
        description="Serve a GGUF model with llama.cpp's OpenAI-compatible HTTP server on 127.0.0.1.",
    )
    parser.add_argument("--model", type=Path, required=True, help="path of the GGUF file")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for generation and prompt processing")
    parser.add_argument("--ctx", type=int, default=4096, help="context size in tokens")
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV) or None,
        help=f"require this bearer key on the API (default: ${API_KEY_ENV}); /health stays public",
    )
    parser.add_argument("--alias", help="the model id /v1/models reports (default: llama.cpp's name for the file)")
    parser.add_argument(
        "--cache-ram-mib",
        type=int,
        default=256,
        help="RAM for llama.cpp's cross-request prompt cache, in MiB (llama.cpp's default is 8192; 0 disables it)",
    )
    parser.add_argument("--no-warmup", action="store_true", help="skip the empty warm-up run after loading")
    parser.add_argument(
        "--log-verbosity", type=int, default=2, help="llama.cpp log threshold on stderr: 1 errors, 2 warnings, 3 info"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port must be between 1 and 65535, not {args.port}")
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, not {args.threads}")
    if args.ctx < MIN_CONTEXT:
        parser.error(f"--ctx must be at least {MIN_CONTEXT}, not {args.ctx}")
    return args


def server_params_build(*, xllamacpp: ModuleType, args: argparse.Namespace) -> Any:
    # xllamacpp is passed in, not imported here: it is an optional dependency, and a missing one
    # must end in a clear message rather than an ImportError at import time.
    params = xllamacpp.CommonParams()
    params.model.path = str(args.model)
    params.hostnames = [LOOPBACK]
    params.port = args.port
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.n_ctx = args.ctx
    # One conversation at a time: on a few cores, parallel slots would only split the same compute
    # and divide the context between them.
    params.n_parallel = 1
    params.cache_ram_mib = args.cache_ram_mib
    params.warmup = not args.no_warmup
    params.verbosity = args.log_verbosity
    # Nothing but our own code should talk to this server: no web UI, and no /slots, which would
    # show the prompts in flight (customers' messages) to anything that can reach the port.
    params.ui = False
    params.endpoint_slots = False
    if args.api_key:
        params.api_keys = [args.api_key]
    if args.alias:
        params.model_alias = {args.alias}
    return params


def server_url_normalise(*, address: str, port: int) -> str:
    # llama.cpp formats it as "http://127.0.0.1:PORT"; fall back to what we asked for if that changes.
    if address.startswith(("http://", "https://")):
        return address.rstrip("/")
    return f"http://{LOOPBACK}:{port}"


def server_run(*, args: argparse.Namespace) -> int:
    model: Path = args.model
    if not model.is_file():
        return _fail(f"model file not found: {model}", code=EXIT_UNUSABLE)
    try:
        with open(model, "rb") as handle:
            handle.read(4)
    except OSError as exc:
        return _fail(f"model file cannot be read: {exc}", code=EXIT_UNUSABLE)
    try:
        import xllamacpp
    except ImportError as exc:
        return _fail(f"xllamacpp is not installed ({exc}); install it with `{INSTALL_HINT}`", code=EXIT_UNUSABLE)

    params = server_params_build(xllamacpp=xllamacpp, args=args)
    parent = os.getppid()
    # Until the model is loaded there is nothing to clean up, so a stop request may end the process at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    started = time.monotonic()
    try:
        server = xllamacpp.Server(params)
    except (RuntimeError, ValueError) as exc:
        return _fail(
            f"llama.cpp could not start with {model} on {LOOPBACK}:{args.port}: {exc} "
            "(the lines above from llama.cpp say why: not a loadable GGUF, the port is taken, too little memory)",
            code=EXIT_FAILED,
        )
    load_seconds = time.monotonic() - started

    stop = threading.Event()

    def stop_request(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stop_request)
    signal.signal(signal.SIGINT, stop_request)
    try:
        ready = {
            "event": "ready",
            "url": server_url_normalise(address=server.listening_address, port=args.port),
            "load_seconds": round(load_seconds, 3),
            "pid": os.getpid(),
            "model": args.alias or model.name,
        }
        print(json.dumps(ready), flush=True)
        # The wait wakes up for signals (they run in this thread) and to notice an orphaning.
        while not stop.wait(PARENT_CHECK_SECONDS):
            if os.getppid() != parent:
                print(f"local LLM server: parent process {parent} is gone; stopping", file=sys.stderr, flush=True)
                break
    finally:
        # Deleting the Server stops llama.cpp's loop and joins its threads.
        del server
    return 0


def _fail(message: str, *, code: int) -> int:
    print(f"local LLM server: {message}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    return server_run(args=server_arguments_parse(argv))


if __name__ == "__main__":
    sys.exit(main())
