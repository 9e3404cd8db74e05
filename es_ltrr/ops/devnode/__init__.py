"""A real single-node OpenSearch (k-NN, LTR) or Elasticsearch (LTR) assembled from Maven
artifacts: developer and test tooling, not part of the search path.

Why this exists: the project's tests must run against a real cluster, machines reach no site
but the package registries, and the only OpenSearch distribution on Maven Central is the
stripped integ-test zip. This package downloads that zip (``maven``), rebuilds the standard
modules it lacks (``modules``: mapper-extras, lang-painless, lang-mustache, analysis-common,
reindex) from their published jars and POMs, builds the LTR plugin from the vendored upstream
source (``ltr_recipes``, ``ltr_build``: no Gradle, javac against the node's ``lib/``), installs
the plugin zips (``assemble``), and runs the node as an unprivileged user (``host``,
``lifecycle``). Artifacts come through the user's ``mvn`` when installed (``mvn``: settings.xml
mirrors and proxies apply), else straight from a repository URL (``maven``); every one is
sha1-checked and cached under ``NodeConfig.home``, so later starts are offline.

``NodeConfig(distribution="elasticsearch")`` runs Elasticsearch's integ-test zip instead (its
own home and port 9201). That zip has only transport-netty4, apm and x-pack core/security, and
Elastic publishes no 8.x module artifacts (``org.elasticsearch.plugin:<module>-client`` ends at
7.17): the node has no mapper-extras, lang-mustache, analysis-common or reindex. ``es-ltrr
apply`` works there all the same, with what it has: the Q2E memory as a sparse_vector and core
analysis (docs/cluster.md, "A cluster without mapper-extras or analysis-common").

``NodeConfig(distribution="elasticsearch", tls_dir=DIR)`` serves HTTPS with a CA and node
certificate generated into DIR (``tls``: x-pack security's http.ssl; OpenSearch would need its
security plugin, which Maven Central lacks for 2.19.6).

``es-ltrr node start --nodes 3`` starts a local cluster of such nodes instead (``cluster``: one
assembled distribution, a home per member, discovery over loopback).

``es-ltrr node start|stop|status|assemble`` and ``python -m es_ltrr.ops.devnode`` drive it; ``start`` prints
the URL last. Settings come from ``NodeConfig.from_env`` (the environment, read once).
"""

from . import cluster
from .assemble import assemble
from .config import DISTRIBUTIONS, NodeConfig, NodeError
from .lifecycle import start, status, stop

__all__ = ["DISTRIBUTIONS", "NodeConfig", "NodeError", "assemble", "cluster", "start", "status", "stop"]
