"""A local multi-node cluster: ``es-ltrr node start --nodes 3``.

Every member runs the one distribution assembled in the base home (``assemble``: k-NN and the
LTR plugin on OpenSearch, the LTR plugin on Elasticsearch) with a home of its own under
``<home>/cluster/node-<i>`` (config dir, data, logs, pid file). The members form one cluster
over loopback: node *i* serves HTTP on ``port + i`` (default 9250 for OpenSearch, 9260 for
Elasticsearch) and transport on that + 1000 (outside the 9300-9400 range single nodes pick
from), each lists every member's transport address as a seed, and the first start elects a
cluster manager among the named members. ``cluster.json`` records the layout, which is how
``stop`` and ``status`` find the members later.

Heap: each member gets ``cluster_heap(nodes)`` unless given: a sixteenth of the machine's
memory split between the members, between 256 MB and 1 GB (512 MB each for three members on
this 24 GiB machine: three JVMs of ~0.9 GB resident).
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

from .assemble import assemble
from .config import Member, NodeConfig, NodeError, Progress
from .host import alive, node_pid, signal_group, wait_gone
from .lifecycle import _http_json, _launch_new, _log_tail

LAYOUT = "cluster.json"
CLUSTER_NAME = "es-ltrr-cluster"
#: A member's transport port is its HTTP port + this.
TRANSPORT_OFFSET = 1000
MIN_HEAP_MB, MAX_HEAP_MB = 256, 1024


def cluster_dir(base: NodeConfig) -> Path:
    return base.home / "cluster"


def cluster_heap(nodes: int, total_bytes: int | None = None) -> str:
    """Each member's heap: a sixteenth of the machine's memory over ``nodes``, in 256m..1g.

    >>> cluster_heap(3, 24 * 2**30), cluster_heap(3, 4 * 2**30), cluster_heap(1, 64 * 2**30)
    ('512m', '256m', '1024m')
    """
    if total_bytes is None:
        total_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    mb = total_bytes // 2**20 // 16 // max(nodes, 1)
    mb = max(MIN_HEAP_MB, min(MAX_HEAP_MB, round(mb / 256) * 256))
    return f"{mb}m"


def members(base: NodeConfig, nodes: int, port: int | None = None, heap: str | None = None) -> list[NodeConfig]:
    """The members' configs: homes ``<home>/cluster/node-<i>``, HTTP ``port + i`` (default the
    distribution's cluster port), transport ``+ TRANSPORT_OFFSET``; no TLS.

    >>> ms = members(NodeConfig(home=Path("/h")), 3)
    >>> [(m.url, m.member.transport_port, str(m.home)) for m in ms][2]
    ('http://127.0.0.1:9252', 10252, '/h/cluster/node-2')
    """
    if nodes < 2:
        raise NodeError(f"a cluster needs at least 2 nodes, not {nodes}")
    first = port or base.distro.cluster_port
    names = tuple(f"es-ltrr-node-{i}" for i in range(nodes))
    transports = tuple(first + i + TRANSPORT_OFFSET for i in range(nodes))
    heap = heap or cluster_heap(nodes)
    return [replace(base, home=cluster_dir(base) / f"node-{i}", port=first + i, heap=heap, tls_dir=None,
                    member=Member(i, CLUSTER_NAME, names, transports, base.home))
            for i in range(nodes)]


def _layout(base: NodeConfig) -> dict | None:
    try:
        return json.loads((cluster_dir(base) / LAYOUT).read_text())
    except (OSError, ValueError):
        return None


def recorded(base: NodeConfig) -> list[NodeConfig]:
    """The members ``cluster.json`` records for this home ([] when no cluster was started)."""
    layout = _layout(base)
    if not layout or layout.get("distribution") != base.distribution:
        return []
    return members(base, layout["nodes"], layout["port"], layout["heap"])


def urls(configs: list[NodeConfig]) -> str:
    """The members' URLs as ``--cluster`` takes them: comma-separated."""
    return ",".join(c.url for c in configs)


def health(configs: list[NodeConfig]) -> dict | None:
    """``_cluster/health`` from the first member that answers (None: none does)."""
    for config in configs:
        body = _http_json(f"{config.url}/_cluster/health?timeout=1s")
        if isinstance(body, dict) and "status" in body:
            return body
    return None


def start(base: NodeConfig, nodes: int, port: int | None = None, heap: str | None = None,
          progress: Progress = print, timeout_s: float = 300) -> str:
    """Assemble (cached) and start ``nodes`` members, wait until they form one cluster of
    ``nodes`` nodes (green or yellow); returns their URLs comma-separated.

    Members already running are reused (a cluster started before, or one member restarted);
    a recorded cluster of another shape must be stopped first. ``timeout_s`` bounds the wait
    after the launch; on a timeout every member is stopped and the log tails say why.
    """
    t0 = time.monotonic()
    configs = members(base, nodes, port, heap)
    before = recorded(base)
    running = [c for c in before if node_pid(c)]
    if running and [c.url for c in before] != [c.url for c in configs]:
        raise NodeError(f"a {len(before)}-node cluster runs from {cluster_dir(base)} ({urls(before)}); "
                        f"stop it first (es-ltrr node stop --nodes {len(before)})")
    if not running:
        assemble(base, progress)
    for config in configs:
        if node_pid(config) is None and _http_json(f"{config.url}/") is not None:
            raise NodeError(f"port {config.port} already answers, not as a member started from {config.home}; "
                            "stop it or pick another --port")
    cluster_dir(base).mkdir(parents=True, exist_ok=True)
    (cluster_dir(base) / LAYOUT).write_text(json.dumps(
        {"distribution": base.distribution, "nodes": nodes, "port": configs[0].port, "heap": configs[0].heap,
         "urls": urls(configs)}, indent=1))
    pids = {}
    for config in configs:
        pid = node_pid(config)
        if pid is None:
            config.home.mkdir(parents=True, exist_ok=True)
            pid = _launch_new(config, progress)
        else:
            progress(f"{config.member.name} already running (pid {pid})")
        pids[config.member.name] = pid
    progress(f"waiting for {nodes} nodes to form {CLUSTER_NAME} ({urls(configs)})")
    _wait_formed(configs, pids, timeout_s, progress)
    progress(f"cluster of {nodes} ready in {time.monotonic() - t0:.1f} s")
    return urls(configs)


def _wait_formed(configs: list[NodeConfig], pids: dict[str, int], timeout_s: float, progress: Progress) -> None:
    start_t, next_note = time.monotonic(), 10.0
    while (waited := time.monotonic() - start_t) < timeout_s:
        for config in configs:
            if not alive(pids[config.member.name], config.distribution):
                stop_members(configs)
                raise NodeError(f"{config.member.name} (pid {pids[config.member.name]}) exited during start-up "
                                f"(stopped the others); last lines of {config.log_file}:\n{_log_tail(config)}")
        body = health(configs)
        if body and body.get("number_of_nodes") == len(configs) and body["status"] in ("green", "yellow"):
            return
        if waited >= next_note:
            seen = body.get("number_of_nodes") if body else 0
            progress(f"waiting for the cluster ({waited:.0f} s, {seen} of {len(configs)} nodes joined)")
            next_note += 10
        time.sleep(0.5)
    tails = "\n".join(f"--- {c.log_file}:\n{_log_tail(c, 10)}" for c in configs)
    stop_members(configs)
    raise NodeError(f"the {len(configs)} nodes did not form one cluster within {timeout_s:.0f} s (stopped them); "
                    f"last log lines:\n{tails}")


def stop_members(configs: list[NodeConfig], timeout_s: float = 60) -> int:
    """SIGTERM every running member at once, SIGKILL the ones left after ``timeout_s``; how many ran."""
    running = [(c, pid) for c in configs if (pid := node_pid(c)) is not None]
    for _, pid in running:
        signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for config, pid in running:
        if not wait_gone(pid, max(deadline - time.monotonic(), 0.1), config.distribution):
            signal_group(pid, signal.SIGKILL)
            if not wait_gone(pid, 10, config.distribution):
                raise NodeError(f"{config.member.name if config.member else config.home} pid {pid} survived SIGKILL")
    for config in configs:
        config.pid_file.unlink(missing_ok=True)
    return len(running)


def stop(base: NodeConfig, timeout_s: float = 60) -> int:
    """Stop every member of the home's recorded cluster; how many were running."""
    return stop_members(recorded(base), timeout_s)


def status(base: NodeConfig) -> dict:
    """The recorded cluster: its members (running, pid, URL), health, node count and URLs."""
    configs = recorded(base)
    nodes = [{"name": c.member.name, "url": c.url, "pid": node_pid(c), "running": node_pid(c) is not None,
              "home": str(c.home)} for c in configs]
    body = health(configs) if any(n["running"] for n in nodes) else None
    return {"distribution": base.distribution, "version": base.version, "nodes": nodes,
            "running": bool(nodes) and all(n["running"] for n in nodes),
            "health": body.get("status") if body else None,
            "number_of_nodes": body.get("number_of_nodes") if body else None,
            "urls": urls(configs), "home": str(cluster_dir(base))}
