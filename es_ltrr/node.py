"""A real single-node OpenSearch (k-NN, LTR when obtainable) or Elasticsearch assembled from
Maven Central.

Why this exists: the project's tests must run against a real cluster, machines reach no site
but the package registries, and the only OpenSearch distribution on Maven Central is the
stripped integ-test zip. This module downloads that zip, rebuilds the standard modules it
lacks (mapper-extras, lang-painless, lang-mustache, analysis-common, reindex) from their published
jars and POMs, installs the plugin zips, and runs the node as an unprivileged user. Every
download is sha1-checked and cached under ``NodeConfig.home``, so later starts are offline.

``NodeConfig(distribution="elasticsearch")`` runs Elasticsearch's integ-test zip instead (its
own home and port 9201). That zip has only transport-netty4, apm and x-pack core/security, and
Elastic publishes no 8.x module artifacts (``org.elasticsearch.plugin:<module>-client`` ends at
7.17): the node has no mapper-extras, lang-mustache, analysis-common or reindex, so it serves
the engine-level tests (transport, _msearch/_bulk/_mget, aliases, dense_vector kNN), not
``es-ltrr apply`` of the music schema.

``python -m es_ltrr.node start|stop|status`` drives it; ``start`` prints the URL last.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CENTRAL = "https://repo1.maven.org/maven2"
NODE_USER = "es-ltrr-node"
MARKER = ".es-ltrr-assembled.json"
LOG_TAIL_LINES = 30

# Central serves some artifacts without checksum files; these hashes were taken from a
# download that matched the artifact's own plugin descriptor (version 2.19.6.0).
PINNED_SHA1 = {
    "org.opensearch.plugin:opensearch-knn:2.19.6.0@zip": "3f9fcc3784f9a731912e651d4926626695132eaf",
}

Progress = Callable[[str], None]


class NodeError(RuntimeError):
    """A node could not be assembled, started or stopped; the message says what and why."""


class ArtifactMissing(NodeError):
    """Maven Central answered 404 for an artifact (it is not published there)."""


@dataclass(frozen=True)
class Distribution:
    """What differs between the two products: defaults, artifact, script and env names."""

    name: str  # also the integ-test zip's artifact, its top dir and bin/ script names
    title: str
    version: str
    port: int
    home: str  # default home, overridden by the env variable ``home_env``
    home_env: str
    ltr_env: str  # env variable naming a local LTR plugin zip
    group: str  # Maven group of the integ-test zip
    env: str  # prefix of the launcher's variables: <env>_JAVA_HOME, _JAVA_OPTS, _TMPDIR, _PATH_CONF
    java: tuple[int, int]  # supported Java majors (both need the security manager: < 24)


DISTRIBUTIONS = {
    "opensearch": Distribution(
        "opensearch", "OpenSearch", "2.19.6", 9200, "~/.cache/es-ltrr/node", "ES_LTRR_NODE_HOME",
        "ES_LTRR_LTR_ZIP", "org.opensearch.distribution.integ-test-zip", "OPENSEARCH", (11, 23)),
    "elasticsearch": Distribution(
        "elasticsearch", "Elasticsearch", "8.19.21", 9201, "~/.cache/es-ltrr/node-elasticsearch",
        "ES_LTRR_ES_NODE_HOME", "ES_LTRR_ES_LTR_ZIP", "org.elasticsearch.distribution.integ-test-zip",
        "ES", (17, 23)),
}

# What es-ltrr needs beyond the Elasticsearch integ-test zip; none of it is on Maven Central for 8.x.
ES_MISSING_MODULES = ("mapper-extras", "lang-mustache", "analysis-common", "reindex")


@dataclass(frozen=True)
class NodeConfig:
    """Where and how the node runs; ``None`` fields take the distribution's defaults.

    ``distribution`` is ``"opensearch"`` (default: 2.19.6, port 9200, ``~/.cache/es-ltrr/node``
    or env ``ES_LTRR_NODE_HOME``) or ``"elasticsearch"`` (8.19.21, port 9201,
    ``~/.cache/es-ltrr/node-elasticsearch`` or env ``ES_LTRR_ES_NODE_HOME``). Build an
    Elasticsearch config with ``NodeConfig(distribution=...)``, not ``replace()`` of an
    OpenSearch one (that would keep its version, home and port).

    ``ltr_zip`` is a local LTR plugin zip to install when Maven Central does not serve it
    (env ``ES_LTRR_LTR_ZIP`` for OpenSearch, ``ES_LTRR_ES_LTR_ZIP`` for Elasticsearch).
    ``knn`` installs the OpenSearch k-NN plugin (Elasticsearch has dense_vector kNN built in).
    """

    version: str | None = None
    home: Path | None = None
    port: int | None = None
    heap: str = "1g"
    knn: bool = True
    ltr_zip: Path | None = None
    distribution: str = "opensearch"

    def __post_init__(self) -> None:
        if self.distribution not in DISTRIBUTIONS:
            raise NodeError(f"unknown distribution {self.distribution!r}: use {' or '.join(DISTRIBUTIONS)}")
        d = self.distro
        ltr = os.environ.get(d.ltr_env)
        defaults = {"version": d.version, "port": d.port,
                    "home": Path(os.environ.get(d.home_env, d.home)).expanduser(),
                    "ltr_zip": Path(ltr).expanduser() if ltr else None}
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    @property
    def distro(self) -> Distribution:
        return DISTRIBUTIONS[self.distribution]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dist(self) -> Path:
        return self.home / f"{self.distribution}-{self.version}"


# --------------------------------------------------------------------------- Maven artifacts


@dataclass(frozen=True)
class Coord:
    """A Maven coordinate; ``str()`` gives the ``group:artifact:version@ext`` form."""

    group: str
    artifact: str
    version: str
    ext: str = "jar"

    def __str__(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}@{self.ext}"

    @property
    def path(self) -> str:
        g = self.group.replace(".", "/")
        return f"{g}/{self.artifact}/{self.version}/{self.artifact}-{self.version}.{self.ext}"

    @property
    def url(self) -> str:
        return f"{CENTRAL}/{self.path}"

    def with_ext(self, ext: str) -> Coord:
        return Coord(self.group, self.artifact, self.version, ext)


def _open_url(url: str, coord: Coord, tries: int = 3):
    """GET with retries on network errors; HTTP errors become NodeErrors naming ``coord``."""
    for attempt in range(tries):
        try:
            return urllib.request.urlopen(url, timeout=60)
        except urllib.error.HTTPError as e:
            kind = ArtifactMissing if e.code == 404 else NodeError
            raise kind(f"{coord}: GET {url} -> HTTP {e.code} {e.reason}") from e
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            if attempt == tries - 1:
                raise NodeError(f"{coord}: GET {url} failed: {e}") from e
            time.sleep(2 * (attempt + 1))
    raise AssertionError("unreachable")


def _expected_sha1(coord: Coord) -> str:
    """Central's .sha1 for ``coord``, else a pinned hash; never download unverified."""
    try:
        with _open_url(coord.url + ".sha1", coord) as resp:
            return resp.read().decode().split()[0].strip().lower()
    except ArtifactMissing:
        if str(coord) in PINNED_SHA1:
            return PINNED_SHA1[str(coord)]
        raise NodeError(f"{coord}: Central serves no {coord.url}.sha1 and no hash is pinned")


def fetch(coord: Coord, cache: Path, progress: Progress = print) -> Path:
    """Download ``coord`` into ``cache`` once; files land there only after the sha1 matched."""
    dest = cache / coord.path
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    digest, size = hashlib.sha1(), 0
    with _open_url(coord.url, coord) as resp, tmp.open("wb") as out:  # 404 -> ArtifactMissing
        expected = _expected_sha1(coord)
        while chunk := resp.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    if digest.hexdigest() != expected:
        tmp.unlink()
        raise NodeError(f"{coord}: sha1 {digest.hexdigest()} != expected {expected} ({coord.url})")
    tmp.rename(dest)
    progress(f"downloaded {coord} ({size / 1e6:.1f} MB, sha1 ok)")
    return dest


def _pom_deps(pom: Path) -> list[Coord]:
    """Runtime dependencies a POM declares (compile/runtime, not optional, literal versions)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    deps = []
    for dep in ET.parse(pom).getroot().findall("m:dependencies/m:dependency", ns):
        get = lambda tag: (dep.findtext(f"m:{tag}", "", ns) or "").strip()  # noqa: E731
        if get("scope") not in ("", "compile", "runtime") or get("optional") == "true":
            continue
        if "${" in get("version") or not get("version"):
            continue
        deps.append(Coord(get("groupId"), get("artifactId"), get("version")))
    return deps


# --------------------------------------------------------------------------- modules

PAINLESS_POLICY = """grant {
  // generates and loads script classes at run time
  permission java.lang.RuntimePermission "createClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
};
"""

MUSTACHE_POLICY = """grant {
  // mustache.java reflects over the template scope objects
  permission java.lang.RuntimePermission "accessDeclaredMembers";
  permission java.lang.reflect.ReflectPermission "suppressAccessChecks";
};
"""

REINDEX_POLICY = """grant {
  // reindex-from-remote opens connections through the REST client
  permission java.net.SocketPermission "*", "connect";
};
"""


@dataclass(frozen=True)
class Module:
    """A standard module the integ-test zip lacks, rebuilt from its Central jar + POM."""

    name: str
    artifact: str
    classname: str
    description: str
    extends: tuple[str, ...] = ()
    policy: str | None = None


MODULES = (
    Module("mapper-extras", "mapper-extras-client", "org.opensearch.index.mapper.MapperExtrasPlugin",
           "Adds advanced field mappers (rank_feature(s), scaled_float, ...)"),
    Module("lang-painless", "lang-painless", "org.opensearch.painless.PainlessPlugin",
           "An easy, safe and fast scripting language for OpenSearch", policy=PAINLESS_POLICY),
    Module("lang-mustache", "lang-mustache-client", "org.opensearch.script.mustache.MustachePlugin",
           "Mustache scripting integration for OpenSearch", policy=MUSTACHE_POLICY),
    Module("analysis-common", "analysis-common", "org.opensearch.analysis.common.CommonAnalysisPlugin",
           "Adds common analysis filters, tokenizers and analyzers", extends=("lang-painless",)),
    Module("reindex", "reindex-client", "org.opensearch.index.reindex.ReindexPlugin",
           "_reindex, _update_by_query, _delete_by_query (es-ltrr apply reindexes behind aliases)",
           policy=REINDEX_POLICY),
)


def _in_lib(artifact: str, lib_jars: set[str]) -> bool:
    """True when ``lib/`` already has ``<artifact>-<digit>...jar``: adding it again is jar hell."""
    prefix = artifact + "-"
    return any(j.startswith(prefix) and j[len(prefix):][:1].isdigit() for j in lib_jars)


def _module_jars(mod: Module, version: str, cache: Path, lib_jars: set[str],
                 progress: Progress) -> list[Path]:
    """The module jar plus its transitive runtime deps, minus anything ``lib/`` has."""
    queue = [Coord("org.opensearch.plugin", mod.artifact, version)]
    seen: set[tuple[str, str]] = set()
    jars: list[Path] = []
    while queue:
        c = queue.pop(0)
        if (c.group, c.artifact) in seen or _in_lib(c.artifact, lib_jars):
            continue
        seen.add((c.group, c.artifact))
        jars.append(fetch(c, cache, progress))
        queue += _pom_deps(fetch(c.with_ext("pom"), cache, progress))
    return jars


def _descriptor(name: str, description: str, version: str, classname: str,
                extends: tuple[str, ...]) -> str:
    return "\n".join([
        f"description={description}", f"version={version}", f"name={name}",
        f"classname={classname}", "java.version=11", f"opensearch.version={version}",
        f"extended.plugins={','.join(extends)}", "has.native.controller=false", "",
    ])


def _build_module(mod: Module, dist: Path, version: str, cache: Path,
                  progress: Progress) -> list[str]:
    """Write ``modules/<name>/`` (jars, descriptor, policy); returns the jar names."""
    lib_jars = {p.name for p in (dist / "lib").glob("*.jar")}
    target = dist / "modules" / mod.name
    target.mkdir(parents=True, exist_ok=True)
    jars = _module_jars(mod, version, cache, lib_jars, progress)
    for jar in jars:
        shutil.copy2(jar, target / jar.name)
    text = _descriptor(mod.name, mod.description, version, mod.classname, mod.extends)
    (target / "plugin-descriptor.properties").write_text(text)
    if mod.policy:
        (target / "plugin-security.policy").write_text(mod.policy)
    return [j.name for j in jars]


# --------------------------------------------------------------------------- assembling


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


def java_home(distribution: str = "opensearch") -> Path:
    """A Java home in the distribution's range (OpenSearch 2.19: 11-23, Elasticsearch 8: 17-23;
    both need the security manager, gone from Java 24 on)."""
    d = DISTRIBUTIONS[distribution]
    low, high = d.java
    found = shutil.which("java")
    candidates = [os.environ.get(f"{d.env}_JAVA_HOME"), os.environ.get("JAVA_HOME"),
                  str(Path(found).resolve().parent.parent) if found else None]
    for cand in filter(None, candidates):
        major = _java_major(Path(cand))
        if major and low <= major <= high:
            return Path(cand)
    raise NodeError(f"no Java {low}-{high} found (tried {candidates}); "
                    f"install openjdk-17-jdk-headless or set {d.env}_JAVA_HOME")


def _unzip(archive: Path, into: Path) -> None:
    """Extract keeping the Unix modes (zipfile drops them; the bin/ scripts need +x)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, into))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                path.chmod(mode)


def _is_opensearch(config: NodeConfig) -> bool:
    return config.distribution == "opensearch"


def _spec(config: NodeConfig) -> dict:
    """What the assembled distro must contain; a change means re-assembling."""
    opensearch = _is_opensearch(config)
    return {"distribution": config.distribution, "version": config.version,
            "modules": [m.name for m in MODULES] if opensearch else [],
            "knn": config.knn and opensearch, "ltr_zip": str(config.ltr_zip) if config.ltr_zip else None}


def _read_marker(dist: Path) -> dict:
    try:
        marker = json.loads((dist / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return {"distribution": "opensearch", **marker}  # markers written before Elasticsearch support


def _plugin_zips(config: NodeConfig, cache: Path, progress: Progress) -> list[tuple[str, Path]]:
    """Plugin zips to install: k-NN (required) and LTR (from ``ltr_zip`` or Central, if there);
    for Elasticsearch only ``ltr_zip`` (the o19s plugin is not on Central)."""
    zips = []
    if not _is_opensearch(config):
        return [(str(config.ltr_zip), config.ltr_zip)] if config.ltr_zip else []
    if config.knn:
        knn = Coord("org.opensearch.plugin", "opensearch-knn", f"{config.version}.0", "zip")
        zips.append((str(knn), fetch(knn, cache, progress)))
    if config.ltr_zip:
        if not config.ltr_zip.is_file():
            raise NodeError(f"ltr_zip {config.ltr_zip} (ES_LTRR_LTR_ZIP) is not a file")
        return zips + [(str(config.ltr_zip), config.ltr_zip)]
    ltr = Coord("org.opensearch", "opensearch-ltr", f"{config.version}.0", "zip")
    try:
        zips.append((str(ltr), fetch(ltr, cache, progress)))
    except ArtifactMissing as e:
        progress(f"WARNING: LTR plugin left out: {e}. Set ES_LTRR_LTR_ZIP to a local "
                 f"opensearch-ltr-{config.version}.0.zip to include it.")
    return zips


def _install_plugin(config: NodeConfig, dist: Path, source: str, archive: Path, java: Path) -> None:
    d = config.distro
    if not archive.is_file():
        raise NodeError(f"{source}: {archive} is not a file")
    cmd = [str(dist / "bin" / f"{d.name}-plugin"), "install", "--batch", archive.resolve().as_uri()]
    env = {**os.environ, f"{d.env}_JAVA_HOME": str(java), f"{d.env}_PATH_CONF": str(dist / "config")}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if run.returncode != 0:
        tail = "\n".join((run.stdout + run.stderr).splitlines()[-LOG_TAIL_LINES:])
        raise NodeError(f"{source}: `{d.name}-plugin install` exited {run.returncode}:\n{tail}")


def assemble(config: NodeConfig, progress: Progress = print) -> Path:
    """Build (once) the distro dir: integ-test zip + rebuilt modules + plugins; returns it."""
    dist, spec = config.dist, _spec(config)
    if {k: _read_marker(dist).get(k) for k in spec} == spec:
        return dist
    if _node_pid(config):
        raise NodeError(f"a node is running from {dist}; stop it before re-assembling")
    d = config.distro
    progress(f"assembling {d.title} {config.version} in {dist}")
    cache, java = config.home / "downloads", java_home(config.distribution)
    core = Coord(d.group, d.name, config.version, "zip")
    stage = config.home / ".stage"
    shutil.rmtree(stage, ignore_errors=True)
    _unzip(fetch(core, cache, progress), stage)
    built = stage / f"{d.name}-{config.version}"
    modules = MODULES if _is_opensearch(config) else ()
    jars = {m.name: _build_module(m, built, config.version, cache, progress) for m in modules}
    for name, module_jars in jars.items():
        progress(f"module {name}: {', '.join(module_jars)}")
    if not _is_opensearch(config):
        progress(f"WARNING: no {', '.join(ES_MISSING_MODULES)} module: the integ-test zip lacks them "
                 f"and Maven Central has no {config.version} artifacts for them (e.g. "
                 f"org.elasticsearch.plugin:mapper-extras-client ends at 7.17). `es-ltrr apply` "
                 "needs them: use a full distribution (docker compose --profile elasticsearch).")
    plugins = []
    for source, archive in _plugin_zips(config, cache, progress):
        progress(f"installing plugin {source}")
        _install_plugin(config, built, source, archive, java)
        plugins.append(source)
    (built / MARKER).write_text(json.dumps({**spec, "module_jars": jars, "plugins": plugins}, indent=1))
    shutil.rmtree(dist, ignore_errors=True)
    built.rename(dist)
    shutil.rmtree(stage, ignore_errors=True)
    return dist


# --------------------------------------------------------------------------- running


def _http_json(url: str, timeout: float = 2.0) -> dict | list | None:
    """GET JSON, or None when the node does not answer (yet)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _health(config: NodeConfig) -> str | None:
    body = _http_json(f"{config.url}/_cluster/health?timeout=1s")
    return body.get("status") if isinstance(body, dict) else None


def _pid_file(config: NodeConfig) -> Path:
    return config.home / "node.pid"


def _log_file(config: NodeConfig) -> Path:
    return config.home / "node.log"


def _alive(pid: int, name: str = "opensearch") -> bool:
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
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and name.encode() in cmdline


def _node_pid(config: NodeConfig) -> int | None:
    """The pid from the pid file if that process is still a node of the distribution."""
    try:
        pid = int(_pid_file(config).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid, config.distribution) else None


def _node_owner() -> tuple[int, int] | None:
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


def _grant_traverse(path: Path, progress: Progress) -> None:
    """Let other users pass through (o+x, not list) the dirs above ``path``, e.g. /root."""
    for parent in reversed(path.resolve().parents):
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
            progress(f"granted traverse (o+x) on {parent} so {NODE_USER} can reach the node home")


def _chown_tree(root: Path, owner: tuple[int, int]) -> None:
    os.chown(root, *owner)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), *owner, follow_symlinks=False)


def _runtime_dirs(config: NodeConfig) -> list[Path]:
    """Dirs the node writes: data, logs, tmp; the distro's config (keystore) and logs (gc.log,
    as jvm.options names it relative to the distro dir that bin/<distribution>-env cd's into)."""
    return [config.home / "data", config.home / "logs", config.home / "tmp",
            config.dist / "config", config.dist / "logs"]


def _prepare(config: NodeConfig, owner: tuple[int, int] | None, progress: Progress) -> None:
    for d in _runtime_dirs(config):
        d.mkdir(parents=True, exist_ok=True)
    if owner:
        _grant_traverse(config.dist, progress)
        for d in _runtime_dirs(config):
            _chown_tree(d, owner)


def _write_settings(config: NodeConfig) -> None:
    """<distribution>.yml for a loopback single node that never blocks writes on a full disk
    (and, where x-pack security is bundled, serves plain HTTP without auth)."""
    settings = {
        "cluster.name": "es-ltrr", "node.name": "es-ltrr-node",
        "discovery.type": "single-node", "network.host": "127.0.0.1",
        "http.port": config.port, "path.data": str(config.home / "data"),
        "path.logs": str(config.home / "logs"),
        "cluster.routing.allocation.disk.threshold_enabled": False,
    }
    if (config.dist / "modules" / "x-pack-security").is_dir():
        settings["xpack.security.enabled"] = False
    text = "".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items())
    (config.dist / "config" / f"{config.distribution}.yml").write_text(text)


def _launch(config: NodeConfig, java: Path, owner: tuple[int, int] | None) -> subprocess.Popen:
    """Start bin/<distribution> detached (own session), output to node.log, as ``owner``."""
    prefix = config.distro.env
    env = {**os.environ, f"{prefix}_JAVA_HOME": str(java),
           f"{prefix}_JAVA_OPTS": f"-Xms{config.heap} -Xmx{config.heap} "
                                  f"-XX:HeapDumpPath={config.home / 'data'}",
           f"{prefix}_TMPDIR": str(config.home / "tmp"),
           f"{prefix}_PATH_CONF": str(config.dist / "config")}
    if owner:
        env["HOME"] = str(config.home / "tmp")
    with _log_file(config).open("w") as log:
        return subprocess.Popen(
            [str(config.dist / "bin" / config.distribution)], cwd=config.home, env=env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, user=owner[0] if owner else None,
            group=owner[1] if owner else None, extra_groups=[] if owner else None)


def _log_tail(config: NodeConfig, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(_log_file(config).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_healthy(config: NodeConfig, pid: int, timeout_s: float, progress: Progress) -> None:
    """Poll cluster health until green/yellow; a dead or stuck node raises with its log tail."""
    start, next_note = time.monotonic(), 10.0
    while (waited := time.monotonic() - start) < timeout_s:
        if not _alive(pid, config.distribution):
            _pid_file(config).unlink(missing_ok=True)
            raise NodeError(f"{config.distro.title} (pid {pid}) exited during start-up; "
                            f"last lines of {_log_file(config)}:\n{_log_tail(config)}")
        if _health(config) in ("green", "yellow"):
            return
        if waited >= next_note:
            progress(f"waiting for {config.url} ({waited:.0f} s)")
            next_note += 10
        time.sleep(0.5)
    stop(config, timeout_s=20)
    raise NodeError(f"{config.distro.title} not healthy after {timeout_s:.0f} s (stopped it); "
                    f"last lines of {_log_file(config)}:\n{_log_tail(config)}")


def _launch_new(config: NodeConfig, progress: Progress) -> int:
    """Write settings, hand the runtime dirs to the node user, launch; returns the pid."""
    java, owner = java_home(config.distribution), _node_owner()
    _write_settings(config)
    _prepare(config, owner, progress)
    user = NODE_USER if owner else pwd.getpwuid(os.getuid()).pw_name
    progress(f"starting {config.distro.title} {config.version} (heap {config.heap}, java {java}, user {user})")
    pid = _launch(config, java, owner).pid
    _pid_file(config).write_text(f"{pid}\n")
    return pid


def start(config: NodeConfig, progress: Progress = print, timeout_s: float = 180) -> str:
    """Assemble if needed, start the node in the background, wait for health; returns the URL.

    A node already running from ``config.home`` is reused (waited for if still starting).
    ``timeout_s`` bounds the wait for health after launch (downloads are not counted).
    """
    t0 = time.monotonic()
    pid = _node_pid(config)
    if pid is None:
        if _health(config) is not None:
            raise NodeError(f"port {config.port} already answers as a cluster not started from "
                            f"{config.home}; stop it or pick another --port")
        assemble(config, progress)
        pid = _launch_new(config, progress)
    else:
        progress(f"node already running (pid {pid})")
    progress(f"waiting for {config.url}/_cluster/health (log: {_log_file(config)})")
    _wait_healthy(config, pid, timeout_s, progress)
    progress(f"ready in {time.monotonic() - t0:.1f} s")
    return config.url


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _wait_gone(pid: int, timeout_s: float, name: str) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid, name):
            return True
        time.sleep(0.25)
    return not _alive(pid, name)


def stop(config: NodeConfig, timeout_s: float = 60) -> bool:
    """SIGTERM the node (its whole session), SIGKILL after ``timeout_s``; True if one ran."""
    pid = _node_pid(config)
    if pid is None:
        _pid_file(config).unlink(missing_ok=True)
        return False
    _signal_group(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout_s, config.distribution):
        _signal_group(pid, signal.SIGKILL)
        if not _wait_gone(pid, 10, config.distribution):
            raise NodeError(f"{config.distro.title} pid {pid} survived SIGKILL")
    _pid_file(config).unlink(missing_ok=True)
    return True


def status(config: NodeConfig) -> dict:
    """Whether the node runs, its health, plugins and modules (as the cluster reports them)."""
    pid = _node_pid(config)
    cat = _http_json(f"{config.url}/_cat/plugins?format=json") if pid else None
    nodes = _http_json(f"{config.url}/_nodes/plugins") if pid else None
    modules = [m["name"] for n in (nodes or {}).get("nodes", {}).values() for m in n.get("modules", [])]
    return {
        "distribution": config.distribution, "version": config.version,
        "running": pid is not None, "url": config.url, "pid": pid,
        "health": _health(config) if pid else None,
        "plugins": sorted({p["component"] for p in cat or []}),
        "modules": sorted(modules), "home": str(config.home),
    }


# --------------------------------------------------------------------------- CLI


def _config_from_args(args: argparse.Namespace) -> NodeConfig:
    overrides = {k: v for k, v in (("home", args.home), ("port", args.port),
                                   ("version", args.version), ("heap", args.heap)) if v is not None}
    return NodeConfig(distribution=args.distribution, **overrides)


def main(argv: list[str] | None = None) -> int:
    """``start`` prints progress then the URL as the last stdout line; errors go to stderr."""
    parser = argparse.ArgumentParser(prog="python -m es_ltrr.node", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("start", "stop", "status", "assemble"))
    parser.add_argument("--home", type=lambda s: Path(s).expanduser())
    parser.add_argument("--port", type=int)
    parser.add_argument("--version")
    parser.add_argument("--heap")
    parser.add_argument("--distribution", choices=tuple(DISTRIBUTIONS), default="opensearch")
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args(argv)
    config = _config_from_args(args)
    try:
        if args.command == "start":
            print(start(config, progress=lambda s: print(s, flush=True), timeout_s=args.timeout))
        elif args.command == "stop":
            print("stopped" if stop(config) else "not running")
        elif args.command == "assemble":
            print(assemble(config))
        else:
            print(json.dumps(status(config), indent=2))
    except NodeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
