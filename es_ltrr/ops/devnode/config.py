"""What a dev node is: the two distributions' defaults and one node's configuration.

The environment is read only in ``NodeConfig.from_env`` (the CLI's edge), so tests and other
callers pass a mapping instead of patching ``os.environ``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

Progress = Callable[[str], None]

REPO_ROOT = Path(__file__).resolve().parents[3]
#: Where the vendored plugin sources live (like ``es_ltrr.common.settings.DEFAULT_CATALOG``):
#: ``<repo>/../shared/vendor``; ``ES_LTRR_VENDOR_DIR`` overrides it.
DEFAULT_VENDOR = REPO_ROOT.parent / "shared" / "vendor"
CENTRAL = "https://repo1.maven.org/maven2"


class NodeError(RuntimeError):
    """A node could not be assembled, started or stopped; the message says what and why."""


class ArtifactMissing(NodeError):
    """The Maven repository does not serve an artifact (HTTP 404, or mvn found none)."""


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
    cluster_port: int = 9250  # HTTP port of node 0 of a local multi-node cluster (node i: + i)


DISTRIBUTIONS = {
    "opensearch": Distribution(
        "opensearch", "OpenSearch", "2.19.6", 9200, "~/.cache/es-ltrr/node", "ES_LTRR_NODE_HOME",
        "ES_LTRR_LTR_ZIP", "org.opensearch.distribution.integ-test-zip", "OPENSEARCH", (11, 23), 9250),
    "elasticsearch": Distribution(
        "elasticsearch", "Elasticsearch", "8.19.21", 9201, "~/.cache/es-ltrr/node-elasticsearch",
        "ES_LTRR_ES_NODE_HOME", "ES_LTRR_ES_LTR_ZIP", "org.elasticsearch.distribution.integ-test-zip",
        "ES", (17, 23), 9260),
}

# What es-ltrr needs beyond the Elasticsearch integ-test zip; none of it is on Maven Central for 8.x.
ES_MISSING_MODULES = ("mapper-extras", "lang-mustache", "analysis-common", "reindex")


def _distribution(name: str) -> Distribution:
    if name not in DISTRIBUTIONS:
        raise NodeError(f"unknown distribution {name!r}: use {' or '.join(DISTRIBUTIONS)}")
    return DISTRIBUTIONS[name]


def _find_mvn(env: Mapping[str, str]) -> str | None:
    """``ES_LTRR_MVN`` (``off``: none), else ``mvn`` on the env's ``PATH``."""
    chosen = env.get("ES_LTRR_MVN", "").strip()
    if chosen.lower() in ("off", "none", "0", "false"):
        return None
    found = shutil.which(chosen or "mvn", path=env.get("PATH", ""))
    if chosen and not found:
        raise NodeError(f"ES_LTRR_MVN={chosen!r} is not an executable (set it to off for direct downloads)")
    return found


@dataclass(frozen=True)
class Member:
    """A node's place in a local multi-node cluster (``es_ltrr.ops.devnode.cluster``): every
    member runs the distribution assembled under ``dist_home`` with a config dir of its own,
    and finds the others over loopback at their transport ports.

    >>> m = Member(1, "es-ltrr-cluster", ("n0", "n1"), (10250, 10251), Path("/h"))
    >>> (m.name, m.transport_port, m.seeds)
    ('n1', 10251, ('127.0.0.1:10250', '127.0.0.1:10251'))
    """

    index: int
    cluster_name: str
    node_names: tuple[str, ...]
    transport_ports: tuple[int, ...]
    dist_home: Path

    @property
    def name(self) -> str:
        return self.node_names[self.index]

    @property
    def transport_port(self) -> int:
        return self.transport_ports[self.index]

    @property
    def seeds(self) -> tuple[str, ...]:
        return tuple(f"127.0.0.1:{port}" for port in self.transport_ports)


@dataclass(frozen=True)
class NodeConfig:
    """Where and how the node runs; ``None`` fields take the distribution's defaults.

    ``distribution`` is ``"opensearch"`` (default: 2.19.6, port 9200, ``~/.cache/es-ltrr/node``)
    or ``"elasticsearch"`` (8.19.21, port 9201, ``~/.cache/es-ltrr/node-elasticsearch``).
    ``NodeConfig.from_env`` adds what the environment says (homes, LTR zips, Java homes).
    Build an Elasticsearch config with ``distribution=...``, not ``replace()`` of an
    OpenSearch one (that would keep its version, home and port).

    ``ltr`` installs the LTR plugin: ``ltr_zip`` if given, else a zip built from the vendored
    upstream source under ``vendor`` (``es_ltrr.ops.devnode.ltr_build``). ``knn`` installs the OpenSearch k-NN plugin (Elasticsearch has dense_vector kNN built in).
    ``neural_search`` (OpenSearch, off by default) installs the neural-search plugin: the
    ``hybrid`` query and the normalization and score-ranker (RRF) search processors, with which
    the node fuses ``es-ltrr evaluate``'s hybrid and rrf_all_arms itself (``NEURAL_PLUGINS``).
    ``java_homes`` are tried in order before the ``java`` on PATH.
    ``tls_dir`` (Elasticsearch only) serves HTTPS with the PEM files there (``ca.pem``,
    ``node.pem``, ``node.key``; generated when missing, ``es_ltrr.ops.devnode.tls``).
    ``downloads`` is the Maven cache (default ``home/downloads``): a second node can share
    another's instead of downloading the same zips again.
    ``mvn`` is the Maven executable that fetches artifacts (honouring the user's settings.xml);
    ``None`` downloads directly from ``maven_repo``.
    ``member`` makes the node one of a local multi-node cluster (``es_ltrr.ops.devnode.cluster``):
    it runs the distribution assembled under ``member.dist_home`` with its own config dir
    (``conf_dir``) in ``home``; ``None`` is the single node (``discovery.type: single-node``).

    >>> NodeConfig(distribution="elasticsearch").url
    'http://127.0.0.1:9201'
    """

    version: str | None = None
    home: Path | None = None
    port: int | None = None
    heap: str = "1g"
    knn: bool = True
    neural_search: bool = False
    ltr_zip: Path | None = None
    distribution: str = "opensearch"
    java_homes: tuple[Path, ...] = field(default=())
    ltr: bool = True
    vendor: Path = DEFAULT_VENDOR
    mvn: str | None = None
    maven_repo: str = CENTRAL
    tls_dir: Path | None = None
    downloads: Path | None = None
    member: Member | None = None

    def __post_init__(self) -> None:
        d = _distribution(self.distribution)
        defaults = {"version": d.version, "port": d.port, "home": Path(d.home).expanduser()}
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> NodeConfig:
        """The config the environment describes (``os.environ`` unless ``env`` is given);
        ``overrides`` that are not ``None`` win, as in ``es_ltrr.common.settings.Settings.load``.

        ``ES_LTRR_VENDOR_DIR``: the plugin sources; ``ES_LTRR_MVN``: the Maven executable, or
        ``off`` for direct downloads (default: ``mvn`` on ``PATH``); ``ES_LTRR_MAVEN_REPO``: the
        repository of direct downloads (default Maven Central).

        >>> c = NodeConfig.from_env({"ES_LTRR_NODE_HOME": "/srv/node", "JAVA_HOME": "/jdk"}, port=9333)
        >>> (str(c.home), c.port, [str(p) for p in c.java_homes])
        ('/srv/node', 9333, ['/jdk'])
        """
        env = os.environ if env is None else env
        values = {k: v for k, v in overrides.items() if v is not None}
        d = _distribution(values.get("distribution", "opensearch"))
        if env.get(d.home_env) and "home" not in values:
            values["home"] = Path(env[d.home_env]).expanduser()
        if env.get(d.ltr_env) and "ltr_zip" not in values:
            values["ltr_zip"] = Path(env[d.ltr_env]).expanduser()
        if "java_homes" not in values:
            found = (env.get(f"{d.env}_JAVA_HOME"), env.get("JAVA_HOME"))
            values["java_homes"] = tuple(Path(p) for p in found if p)
        if env.get("ES_LTRR_VENDOR_DIR") and "vendor" not in values:
            values["vendor"] = Path(env["ES_LTRR_VENDOR_DIR"]).expanduser()
        if env.get("ES_LTRR_MAVEN_REPO") and "maven_repo" not in values:
            values["maven_repo"] = env["ES_LTRR_MAVEN_REPO"].rstrip("/")
        if "mvn" not in values:
            values["mvn"] = _find_mvn(env)
        return cls(**values)

    @property
    def distro(self) -> Distribution:
        return DISTRIBUTIONS[self.distribution]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls_dir else 'http'}://127.0.0.1:{self.port}"

    @property
    def dist(self) -> Path:
        """The assembled distribution directory under ``home`` (a cluster member's: under
        ``member.dist_home``, shared by every member)."""
        return (self.member.dist_home if self.member else self.home) / f"{self.distribution}-{self.version}"

    @property
    def conf_dir(self) -> Path:
        """The node's config dir (``<DIST>_PATH_CONF``): the distribution's own for the single
        node, a copy in ``home`` for a cluster member (each has its own settings file)."""
        return self.home / "config" if self.member else self.dist / "config"

    @property
    def pid_file(self) -> Path:
        return self.home / "node.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "node.log"
