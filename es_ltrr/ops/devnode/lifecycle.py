"""Starting, stopping and inspecting a node: settings file, launch as the node user, health.

The pid file and marker under ``NodeConfig.home`` are how a later command finds the node.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .assemble import LOG_TAIL_LINES, assemble
from .config import NodeConfig, NodeError, Progress
from .host import NODE_USER, alive, chown_tree, grant_traverse, java_home, node_owner, node_pid, signal_group, wait_gone
from .tls import check_supported, client_context, ensure, install


def _http_json(url: str, timeout: float = 2.0, context: ssl.SSLContext | None = None) -> dict | list | None:
    """GET JSON, or None when the node does not answer (yet)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _health(config: NodeConfig) -> str | None:
    body = _http_json(f"{config.url}/_cluster/health?timeout=1s", context=client_context(config))
    return body.get("status") if isinstance(body, dict) else None


def _runtime_dirs(config: NodeConfig) -> list[Path]:
    """Dirs the node writes: data, logs, tmp; the distro's config (keystore) and logs (gc.log,
    as jvm.options names it relative to the distro dir that bin/<distribution>-env cd's into).
    A cluster member writes only under its home (its own config dir; gc.log in its logs)."""
    own = [config.home / "data", config.home / "logs", config.home / "tmp"]
    if config.member:
        return [*own, config.conf_dir]
    return [*own, config.dist / "config", config.dist / "logs"]


def _prepare(config: NodeConfig, owner: tuple[int, int] | None, progress: Progress) -> None:
    for d in _runtime_dirs(config):
        d.mkdir(parents=True, exist_ok=True)
    if owner:
        grant_traverse(config.dist, progress)
        for d in _runtime_dirs(config):
            chown_tree(d, owner)


def _write_settings(config: NodeConfig) -> None:
    """<distribution>.yml for a loopback single node that never blocks writes on a full disk
    (and, where x-pack security is bundled, serves plain HTTP without auth, or with
    ``tls_dir`` HTTPS: ``tls.install``); for a cluster member, its own config dir with the
    cluster's discovery settings (``_member_settings``)."""
    settings = {
        "cluster.name": "es-ltrr", "node.name": "es-ltrr-node",
        "discovery.type": "single-node", "network.host": "127.0.0.1",
        "http.port": config.port, "path.data": str(config.home / "data"),
        "path.logs": str(config.home / "logs"),
        "cluster.routing.allocation.disk.threshold_enabled": False,
    }
    if config.member:
        del settings["discovery.type"]
        settings.update(_member_settings(config))
    if (config.dist / "modules" / "x-pack-security").is_dir():
        settings["xpack.security.enabled"] = False
    if config.tls_dir is not None:
        settings.update(install(config))
    text = "".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items())
    (config.conf_dir / f"{config.distribution}.yml").write_text(text)


def _member_settings(config: NodeConfig) -> dict:
    """A member's config dir (a fresh copy of the distribution's, its logs under its home) and
    the settings that make it one node of the cluster: name, transport port, loopback seeds,
    and the first cluster-manager election among all members (used only while the cluster
    has never formed; later starts rejoin from the cluster state in ``path.data``)."""
    member = config.member
    assert member is not None
    shutil.copytree(config.dist / "config", config.conf_dir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(f"{config.distribution}.yml", "*.keystore*"))
    jvm = config.conf_dir / "jvm.options"
    # gc.log and hs_err files: relative to the distribution dir, which every member shares
    jvm.write_text(jvm.read_text().replace("=logs/", f"={config.home / 'logs'}/"))
    initial = "cluster.initial_cluster_manager_nodes" if config.distribution == "opensearch" \
        else "cluster.initial_master_nodes"
    return {"cluster.name": member.cluster_name, "node.name": member.name,
            "transport.port": member.transport_port, "discovery.seed_hosts": list(member.seeds),
            initial: list(member.node_names)}


def _launch(config: NodeConfig, java: Path, owner: tuple[int, int] | None) -> subprocess.Popen:
    """Start bin/<distribution> detached (own session), output to node.log, as ``owner``."""
    prefix = config.distro.env
    env = {**os.environ, f"{prefix}_JAVA_HOME": str(java),
           f"{prefix}_JAVA_OPTS": f"-Xms{config.heap} -Xmx{config.heap} "
                                  f"-XX:HeapDumpPath={config.home / 'data'}",
           f"{prefix}_TMPDIR": str(config.home / "tmp"),
           f"{prefix}_PATH_CONF": str(config.conf_dir)}
    if owner:
        env["HOME"] = str(config.home / "tmp")
    with config.log_file.open("w") as log:
        return subprocess.Popen(
            [str(config.dist / "bin" / config.distribution)], cwd=config.home, env=env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, user=owner[0] if owner else None,
            group=owner[1] if owner else None, extra_groups=[] if owner else None)


def _log_tail(config: NodeConfig, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(config.log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_healthy(config: NodeConfig, pid: int, timeout_s: float, progress: Progress) -> None:
    """Poll cluster health until green/yellow; a dead or stuck node raises with its log tail."""
    start, next_note = time.monotonic(), 10.0
    while (waited := time.monotonic() - start) < timeout_s:
        if not alive(pid, config.distribution):
            config.pid_file.unlink(missing_ok=True)
            raise NodeError(f"{config.distro.title} (pid {pid}) exited during start-up; "
                            f"last lines of {config.log_file}:\n{_log_tail(config)}")
        if _health(config) in ("green", "yellow"):
            return
        if waited >= next_note:
            progress(f"waiting for {config.url} ({waited:.0f} s)")
            next_note += 10
        time.sleep(0.5)
    stop(config, timeout_s=20)
    raise NodeError(f"{config.distro.title} not healthy after {timeout_s:.0f} s (stopped it); "
                    f"last lines of {config.log_file}:\n{_log_tail(config)}")


def _launch_new(config: NodeConfig, progress: Progress) -> int:
    """Write settings, hand the runtime dirs to the node user, launch; returns the pid."""
    java, owner = java_home(config), node_owner()
    _write_settings(config)
    _prepare(config, owner, progress)
    user = NODE_USER if owner else pwd.getpwuid(os.getuid()).pw_name
    progress(f"starting {config.distro.title} {config.version} (heap {config.heap}, java {java}, user {user})")
    pid = _launch(config, java, owner).pid
    config.pid_file.write_text(f"{pid}\n")
    return pid


def start(config: NodeConfig, progress: Progress = print, timeout_s: float = 180) -> str:
    """Assemble if needed, start the node in the background, wait for health; returns the URL.

    A node already running from ``config.home`` is reused (waited for if still starting).
    ``timeout_s`` bounds the wait for health after launch (downloads are not counted).
    """
    t0 = time.monotonic()
    if config.tls_dir is not None:
        check_supported(config)
        ensure(config.tls_dir)  # before the first health check, which verifies with its CA
    pid = node_pid(config)
    if pid is None:
        if _health(config) is not None:
            raise NodeError(f"port {config.port} already answers as a cluster not started from "
                            f"{config.home}; stop it or pick another --port")
        assemble(config, progress)
        pid = _launch_new(config, progress)
    else:
        progress(f"node already running (pid {pid})")
    progress(f"waiting for {config.url}/_cluster/health (log: {config.log_file})")
    _wait_healthy(config, pid, timeout_s, progress)
    progress(f"ready in {time.monotonic() - t0:.1f} s")
    return config.url


def answering_pid(port: int) -> int | None:
    """The pid of the node answering on 127.0.0.1:``port`` (its ``_nodes/_local`` process id,
    over HTTP or HTTPS), or None when nothing answers as a node there."""
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    for url, context in ((f"http://127.0.0.1:{port}", None), (f"https://127.0.0.1:{port}", insecure)):
        body = _http_json(f"{url}/_nodes/_local/process", context=context)
        ids = [n.get("process", {}).get("id") for n in body.get("nodes", {}).values()] if isinstance(body, dict) else []
        if ids and isinstance(ids[0], int):
            return ids[0]
    return None


def _same_node(pid: int, answering: int | None) -> bool:
    """The process answering is the node ``pid`` started (Elasticsearch's server is a child
    in the launcher's process group)."""
    if answering is None:
        return False
    try:
        return answering == pid or os.getpgid(answering) == pid
    except OSError:
        return False


def stop(config: NodeConfig, timeout_s: float = 60, check_port: bool = False) -> bool:
    """SIGTERM the node (its whole session), SIGKILL after ``timeout_s``; True if one ran.

    With ``check_port`` (a port the user named) the node of ``config.home`` is stopped only
    if it is the one answering on ``config.port``; otherwise NodeError names both, and
    nothing is stopped."""
    pid = node_pid(config)
    if check_port:
        answering = answering_pid(config.port)
        if pid is not None and not _same_node(pid, answering):
            raise NodeError(f"the node started from {config.home} (pid {pid}) does not answer on port "
                            f"{config.port}; nothing stopped: pass the --home of the node on port {config.port}, "
                            f"or leave out --port to stop the one of {config.home}")
        if pid is None and answering is not None:
            raise NodeError(f"no node was started from {config.home}, but port {config.port} answers as a node "
                            f"(pid {answering}); nothing stopped: pass the --home it was started with")
    if pid is None:
        config.pid_file.unlink(missing_ok=True)
        return False
    signal_group(pid, signal.SIGTERM)
    if not wait_gone(pid, timeout_s, config.distribution):
        signal_group(pid, signal.SIGKILL)
        if not wait_gone(pid, 10, config.distribution):
            raise NodeError(f"{config.distro.title} pid {pid} survived SIGKILL")
    config.pid_file.unlink(missing_ok=True)
    return True


def status(config: NodeConfig) -> dict:
    """Whether the node runs, its health, plugins and modules (as the cluster reports them)."""
    pid = node_pid(config)
    context = client_context(config)
    cat = _http_json(f"{config.url}/_cat/plugins?format=json", context=context) if pid else None
    nodes = _http_json(f"{config.url}/_nodes/plugins", context=context) if pid else None
    modules = [m["name"] for n in (nodes or {}).get("nodes", {}).values() for m in n.get("modules", [])]
    return {
        "distribution": config.distribution, "version": config.version,
        "running": pid is not None, "url": config.url, "pid": pid,
        "health": _health(config) if pid else None,
        "plugins": sorted({p["component"] for p in cat or []}),
        "modules": sorted(modules), "home": str(config.home),
    }

