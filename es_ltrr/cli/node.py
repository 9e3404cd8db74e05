"""es-ltrr node: a local OpenSearch/Elasticsearch test node (developer tooling, es_ltrr.ops.devnode)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click

from ..common.console import say
from .group import fail, main


@main.group()
def node() -> None:
    """A local single-node OpenSearch (k-NN, LTR) or Elasticsearch (LTR) assembled from Maven artifacts,
    or a cluster of them (--nodes); the LTR plugin is built from the vendored upstream source."""


def _node_config(home: Path | None, port: int | None, distribution: str = "opensearch", no_ltr: bool = False,
                 tls_dir: Path | None = None, neural_search: bool = False):
    """The dev node's config: the environment read once here, the options winning."""
    from ..ops.devnode import NodeConfig

    return NodeConfig.from_env(distribution=distribution, home=home, port=port, ltr=False if no_ltr else None,
                               tls_dir=tls_dir, neural_search=neural_search or None)


_distribution_option = click.option(
    "--distribution", type=click.Choice(["opensearch", "elasticsearch"]), default="opensearch", show_default=True,
    help="elasticsearch: the integ-test zip on port 9201 with its own home (no mapper-extras/lang-mustache/"
         "analysis-common/reindex: none is on Maven Central for 8.x; `apply` does without them).")
_tls_option = click.option(
    "--tls-dir", type=click.Path(file_okay=False, path_type=Path),
    help="Serve HTTPS with ca.pem, node.pem and node.key from this dir (generated when missing; "
         "Elasticsearch only: x-pack security with anonymous superuser access). Clients pass --ca-certs DIR/ca.pem.")
_neural_option = click.option(
    "--neural-search", is_flag=True,
    help="Also install OpenSearch's neural-search plugin (8 MB from Maven Central): the hybrid query and the "
         "normalization/score-ranker (RRF) search processors, so `es-ltrr evaluate --cluster` has the node fuse "
         "hybrid and rrf_all_arms itself. Off by default: the default node stays light. Give it to a home "
         "of its own (--home, --port): a home assembled without it is assembled again.")
_no_ltr_option = click.option(
    "--no-ltr", is_flag=True, help="Leave the LTR plugin out (it is otherwise built from ../shared/vendor "
                                   "or taken from ES_LTRR_LTR_ZIP / ES_LTRR_ES_LTR_ZIP).")


_HOME_HELP = ("Node home: downloads, distribution, data, logs, pid file (default ~/.cache/es-ltrr/node, "
              "~/.cache/es-ltrr/node-elasticsearch for --distribution elasticsearch; or ES_LTRR_NODE_HOME / "
              "ES_LTRR_ES_NODE_HOME).")

_nodes_option = click.option(
    "--nodes", type=click.IntRange(1, 9), default=1, show_default=True,
    help="Members of a local cluster: with 2 or more, the nodes form one cluster over loopback "
         "(homes <home>/cluster/node-<i>, HTTP ports from 9250 for OpenSearch / 9260 for Elasticsearch, "
         "or --port; docs/cluster.md).")


@node.command("start")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=_HOME_HELP)
@click.option("--port", type=int, help="HTTP port on 127.0.0.1 (default 9200, 9201 for --distribution "
              "elasticsearch; with --nodes: node 0's, node i gets port + i).")
@_distribution_option
@_no_ltr_option
@_neural_option
@_tls_option
@_nodes_option
@click.option("--heap", help="JVM heap per node, e.g. 512m (default 1g; with --nodes: sized for this machine).")
def node_start(home: Path | None, port: int | None, distribution: str, no_ltr: bool, neural_search: bool,
               tls_dir: Path | None, nodes: int, heap: str | None) -> None:
    """Assemble (cached) and start the node; prints its URL as the last line (with --nodes:
    the members' URLs, comma-separated, as --cluster takes them)."""
    from ..ops.devnode import NodeError, cluster, start

    config = _node_config(home, None if nodes > 1 else port, distribution, no_ltr, tls_dir, neural_search)
    try:
        if nodes > 1:
            if tls_dir is not None:
                fail("--tls-dir serves one node; a --nodes cluster runs plain HTTP")
            url = cluster.start(config, nodes, port=port, heap=heap, progress=say)
        else:
            url = start(replace(config, heap=heap) if heap else config, progress=say)
    except NodeError as exc:
        fail(str(exc))
    click.echo(url)


@node.command("assemble")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=_HOME_HELP)
@_distribution_option
@_no_ltr_option
@_neural_option
def node_assemble(home: Path | None, distribution: str, no_ltr: bool, neural_search: bool) -> None:
    """Assemble (cached: modules, plugins, the LTR build) without starting; prints the distribution dir."""
    from ..ops.devnode import NodeError, assemble

    try:
        click.echo(str(assemble(_node_config(home, None, distribution, no_ltr, neural_search=neural_search),
                                progress=say)))
    except NodeError as exc:
        fail(str(exc))


@node.command("stop")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path),
              help="The home the node was started with (its pid file is there; default as for `node start`).")
@click.option("--port", type=int, help="Stop the node only if it is the one answering on this port "
                                       "(it refuses otherwise, stopping nothing).")
@_distribution_option
@click.option("--nodes", type=click.IntRange(1, 9), default=1, show_default=True,
              help="2 or more: stop every member of the home's cluster (`node start --nodes N`).")
def node_stop(home: Path | None, port: int | None, distribution: str, nodes: int) -> None:
    """Stop the node started by `es-ltrr node start` from --home (its pid file); with --port,
    only if that node is the one answering on the port; with --nodes, every member of the
    home's cluster."""
    from ..ops.devnode import NodeError, cluster, stop

    try:
        if nodes > 1:
            stopped = cluster.stop(_node_config(home, None, distribution))
            click.echo(f"stopped {stopped} nodes" if stopped else "no cluster node was running")
            return
        stopped = stop(_node_config(home, port, distribution), check_port=port is not None)
    except NodeError as exc:
        fail(str(exc))
    click.echo("stopped" if stopped else "no node was running")


@node.command("status")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path),
              help="The home the node was started with (its pid file is there; default as for `node start`).")
@click.option("--port", type=int, help="The HTTP port the node answers on (default 9200, 9201 for "
                                       "--distribution elasticsearch).")
@_distribution_option
@_tls_option
@click.option("--nodes", type=click.IntRange(1, 9), default=1, show_default=True,
              help="2 or more: the home's cluster (members, health, URLs; `running`: all members run).")
def node_status(home: Path | None, port: int | None, distribution: str, tls_dir: Path | None, nodes: int) -> None:
    """Print the node's status as JSON (with --nodes: the cluster's)."""
    from ..ops.devnode import cluster, status

    if nodes > 1:
        click.echo(json.dumps(cluster.status(_node_config(home, None, distribution)), indent=2))
        return
    click.echo(json.dumps(status(_node_config(home, port, distribution, tls_dir=tls_dir)), indent=2))
