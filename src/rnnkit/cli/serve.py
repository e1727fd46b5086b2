"""``rnnkit serve``: a local web page and JSON API for trained models."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

from rnnkit.cli.common import UsageError, bounded

EPILOG = """examples:
  rnnkit serve --checkpoint runs/quick runs/spam runs/pos runs/g2p
  rnnkit serve --checkpoint runs/quick --port 8080 --max-length 500
  curl -N -d '{"prime": "ROMEO:", "length": 200}' http://127.0.0.1:8000/api/generate

The page has no login: keep the default --host 127.0.0.1 unless every machine that can reach
the port may use it. See docs/serve.md for the API and the limits.
"""
INSTALL = "rnnkit serve needs the serve extra: pip install 'rnnkit[serve]' (starlette, uvicorn)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    from rnnkit.cli.options import add_config_options

    p = sub.add_parser(
        "serve",
        help="serve a local web page and JSON API for trained models",
        description="Load every --checkpoint (a language model, classifier, tagger or "
        "sequence-to-sequence model) and serve one page with a view per kind, and the JSON "
        "API behind it, until Ctrl-C.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, nargs="+", required=True, metavar="DIR",
                   help="model directories to serve")  # fmt: skip
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=bounded(int, 1, 65535), default=8000)
    p.add_argument("--threads", type=bounded(int, 1, 256), default=1,
                   help="torch threads per model run (runs also go in parallel)")  # fmt: skip
    from rnnkit.serve.limits import ServeLimits

    add_config_options(p.add_argument_group("limits"), ServeLimits)
    p.set_defaults(run=run)


def check_listenable(host: str, port: int) -> None:
    """Fail now, in one line, if the address cannot be listened on (taken, not local...)."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(info[0], info[1]) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(info[4])
    except OSError as e:
        raise UsageError(f"--host {host} --port {port}: cannot listen there ({e})") from None


def run(args: argparse.Namespace) -> None:
    try:
        import uvicorn

        from rnnkit.serve import create_app
        from rnnkit.serve.protocol import JsonErrorProtocol
    except ImportError:
        raise UsageError(INSTALL) from None
    import torch

    from rnnkit.cli.options import config_overrides
    from rnnkit.serve.limits import ServeLimits

    check_listenable(args.host, args.port)
    app = create_app(args.checkpoint, ServeLimits(**config_overrides(args, ServeLimits)))
    torch.set_num_threads(args.threads)  # batch-of-one steps gain little from more
    names = ", ".join(f"{s.name} ({s.kind})" for s in app.state.models.values())
    print(f"serving {names} on http://{args.host}:{args.port}/ (Ctrl-C to stop)",
          file=sys.stderr, flush=True)  # fmt: skip
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", http=JsonErrorProtocol)
