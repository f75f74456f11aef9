"""``rnnkit serve``: load the runs, bind the socket, run uvicorn until SIGTERM or Ctrl-C.

uvicorn's own shutdown stops accepting, lets the requests in flight finish (at most
``--grace`` seconds), then the batchers close and the command exits 0.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

from rnnkit.decode.rows import MAX_ROWS
from rnnkit.errors import UserError
from rnnkit.serve.guard import is_loopback
from rnnkit.serve.registry import Limits, load_models


def check_exposure(host: str, token: str | None) -> None:
    if not token and not is_loopback(host):
        raise UserError(f"--host {host}: anyone who can reach that address could use the models; pass --token "
                        "(or set RNNKIT_TOKEN), or keep the default 127.0.0.1")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit it: a streamed piece leaves at once instead of waiting (up to
    # 40 ms) for the client to acknowledge the previous one
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise UserError(f"--host {host} --port {port}: cannot listen there ({err.strerror}); choose another "
                        "port (0 picks a free one)") from None
    sock.listen(2048)
    return sock


def limits_of(args: argparse.Namespace) -> Limits:
    for flag in ("max_length", "max_n", "max_batch"):
        if getattr(args, flag) < 1:
            raise UserError(f"--{flag.replace('_', '-')}: needs 1 or more")
    if args.max_batch > MAX_ROWS:
        raise UserError(f"--max-batch: at most {MAX_ROWS} (the batch sizes whose rows are checked to match batch 1)")
    if args.max_waiting < 0:
        raise UserError("--max-waiting: needs 0 or more (0: refuse with 503 when every batch row is taken)")
    return Limits(args.max_length, args.max_n, args.max_batch, args.max_waiting)


def graceful_server(config):
    """uvicorn's server, stopping on SIGTERM or Ctrl-C as it does, but returning afterwards (so the
    command exits 0) where uvicorn would send itself the signal again."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            getattr(self, "_captured_signals", []).clear()

    return Server(config)


def set_threads(threads: int) -> int:
    """Torch's threads for the models: by default every core but one, which the event loop needs
    (measured on 2 cores: one torch thread served 32 clients 15% faster than two)."""
    import torch

    chosen = threads or max(1, (os.cpu_count() or 2) - 1)
    torch.set_num_threads(chosen)
    return chosen


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from rnnkit.serve.app import create_app

    if args.threads < 0:
        raise UserError("--threads: 0 (every core but one) or more")
    set_threads(args.threads)
    token = args.token or os.environ.get("RNNKIT_TOKEN") or None
    check_exposure(args.host, token)
    models = load_models(args.runs, args.device, args.precision, limits_of(args), args.runtime, args.quantize)
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"rnnkit serve: http://{shown}:{port}/ serving {', '.join(models)}"
          f"{' (token required)' if token else ''}", flush=True)
    config = uvicorn.Config(create_app(models, token), log_level=args.log_level,
                            timeout_graceful_shutdown=args.grace, access_log=args.log_level == "debug")
    try:
        graceful_server(config).run(sockets=[sock])
    finally:
        for served in models.values():
            served.close()
        sock.close()
    print("rnnkit serve: stopped", file=sys.stderr)
    return 0
