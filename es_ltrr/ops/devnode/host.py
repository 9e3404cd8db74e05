"""The machine the node runs on: a suitable Java, the unprivileged node user, node processes.

Both products refuse to run as root and need the Java security manager (gone from Java 24).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from .config import NodeConfig, NodeError, Progress

NODE_USER = "es-ltrr-node"


def _java_major(java_home: Path) -> int | None:
    try:
        out = subprocess.run([str(java_home / "bin" / "java"), "-version"],
                             capture_output=True, text=True, timeout=30).stderr
    except OSError:
        return None
    parts = out.split('"')
    if len(parts) < 2:
        return None
    head = parts[1].split(".")
    return int(head[1] if head[0] == "1" else head[0].split("-")[0])


def java_home(config: NodeConfig) -> Path:
    """A Java home in the distribution's range (OpenSearch 2.19: 11-23, Elasticsearch 8: 17-23;
    both need the security manager, gone from Java 24 on): ``config.java_homes``, then PATH."""
    low, high = config.distro.java
    found = shutil.which("java")
    candidates = [*config.java_homes, *([Path(found).resolve().parent.parent] if found else [])]
    for cand in candidates:
        major = _java_major(cand)
        if major and low <= major <= high:
            return cand
    raise NodeError(f"no Java {low}-{high} found (tried {[str(c) for c in candidates]}); "
                    f"install openjdk-17-jdk-headless or set {config.distro.env}_JAVA_HOME")


def alive(pid: int, name: str = "opensearch") -> bool:
    """True for a live (non-zombie) process with ``name`` (the distribution) in its command
    line; reaps it if it is our own child."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    # an empty cmdline is a process in the middle of execve (bin/<name> exec's java, which
    # may re-exec itself): alive; seen once as a node "exiting" right after its launch
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and (not cmdline or name.encode() in cmdline)


def node_pid(config: NodeConfig) -> int | None:
    """The pid from the pid file if that process is still a node of the distribution."""
    try:
        pid = int(config.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid, config.distribution) else None


def node_owner() -> tuple[int, int] | None:
    """(uid, gid) to run as: both products refuse root, so root hands the node to a system user."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(NODE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", NODE_USER], check=True, capture_output=True)
        pw = pwd.getpwnam(NODE_USER)
    return pw.pw_uid, pw.pw_gid


def grant_traverse(path: Path, progress: Progress) -> None:
    """Let other users pass through (o+x, not list) the dirs above ``path``, e.g. /root."""
    for parent in reversed(path.resolve().parents):
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
            progress(f"granted traverse (o+x) on {parent} so {NODE_USER} can reach the node home")


def chown_tree(root: Path, owner: tuple[int, int]) -> None:
    os.chown(root, *owner)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), *owner, follow_symlinks=False)


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_gone(pid: int, timeout_s: float, name: str) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(pid, name):
            return True
        time.sleep(0.25)
    return not alive(pid, name)

