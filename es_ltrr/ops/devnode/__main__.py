"""A dev node from Maven artifacts: ``python -m es_ltrr.ops.devnode start|stop|status|assemble``.

``es-ltrr node start|stop|status|assemble`` is the same; this entry point also takes
``--version``, ``--heap`` and ``--timeout``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import cluster
from .assemble import assemble
from .config import DISTRIBUTIONS, NodeConfig, NodeError
from .lifecycle import start, status, stop


def _config_from_args(args: argparse.Namespace) -> NodeConfig:
    return NodeConfig.from_env(distribution=args.distribution, home=args.home,
                               port=None if args.nodes > 1 else args.port, version=args.version,
                               heap=None if args.nodes > 1 else args.heap, ltr=False if args.no_ltr else None)


def main(argv: list[str] | None = None) -> int:
    """``start`` prints progress then the URL as the last stdout line; errors go to stderr."""
    parser = argparse.ArgumentParser(prog="python -m es_ltrr.ops.devnode", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("start", "stop", "status", "assemble"))
    parser.add_argument("--home", type=lambda s: Path(s).expanduser())
    parser.add_argument("--port", type=int)
    parser.add_argument("--version")
    parser.add_argument("--heap")
    parser.add_argument("--distribution", choices=tuple(DISTRIBUTIONS), default="opensearch")
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--no-ltr", action="store_true", help="leave the LTR plugin out")
    parser.add_argument("--nodes", type=int, default=1, help="2 or more: a local cluster (es_ltrr.ops.devnode.cluster)")
    args = parser.parse_args(argv)
    config = _config_from_args(args)
    try:
        if args.nodes > 1 and args.command == "start":
            print(cluster.start(config, args.nodes, port=args.port, heap=args.heap,
                                progress=lambda s: print(s, flush=True), timeout_s=args.timeout))
        elif args.nodes > 1 and args.command == "stop":
            print(f"stopped {cluster.stop(config)} nodes")
        elif args.nodes > 1 and args.command == "status":
            print(json.dumps(cluster.status(config), indent=2))
        elif args.command == "start":
            print(start(config, progress=lambda s: print(s, flush=True), timeout_s=args.timeout))
        elif args.command == "stop":
            print("stopped" if stop(config) else "not running")
        elif args.command == "assemble":
            print(assemble(config, progress=lambda s: print(s, flush=True)))
        else:
            print(json.dumps(status(config), indent=2))
    except NodeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
