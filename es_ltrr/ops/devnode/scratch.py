"""A throwaway node for fault experiments (stop, freeze, kill, restart) that must never touch
the shared test nodes: a copy of an assembled distribution with its own home (data, logs),
a free port and a small heap.

The home lives under the system temp dir, not pytest's: every pytest session resets its temp
root to 0700, which would lock the node's user out of its data while it runs.
"""

from __future__ import annotations

import shutil
import signal
import socket
import tempfile
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from .config import NodeConfig, NodeError, Progress
from .host import node_pid, signal_group, wait_gone
from .lifecycle import start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def scratch_node(base: NodeConfig | None = None, heap: str = "256m", progress: Progress = lambda _: None,
                 timeout_s: float = 180) -> Iterator[NodeConfig]:
    """A running copy of `base`'s assembled distribution (default: the environment's node);
    killed and deleted on exit. Nothing is downloaded: `base` must be assembled already."""
    base = base or NodeConfig.from_env()
    if not base.dist.is_dir():
        raise NodeError(f"no assembled {base.distro.title} at {base.dist}: run `es-ltrr node start` first")
    home = Path(tempfile.mkdtemp(prefix="es-ltrr-scratch-node-"))
    config = replace(base, home=home, port=free_port(), heap=heap)
    try:
        shutil.copytree(base.dist, config.dist, symlinks=True, ignore=shutil.ignore_patterns("logs", "*.log"))
        start(config, progress, timeout_s)
        yield config
    finally:
        kill(config)
        shutil.rmtree(home, ignore_errors=True)


def kill(config: NodeConfig) -> bool:
    """SIGKILL the node (its whole process group) and wait until it is gone; True if one ran."""
    pid = node_pid(config)
    if pid is None:
        return False
    signal_group(pid, signal.SIGKILL)
    if not wait_gone(pid, 30, config.distribution):
        raise NodeError(f"{config.distro.title} pid {pid} survived SIGKILL")
    return True
