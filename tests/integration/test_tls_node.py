"""es-ltrr against a node that serves HTTPS: a separate Elasticsearch node (its own home and
port, never the shared test nodes) started by `es_ltrr.ops.devnode` with a CA and a node
certificate generated for this run (`devnode.tls`, the `cryptography` package).

With `--ca-certs` naming the CA, indexing, search and health work; with another CA (or the
system's) every command is refused with an error naming the URL and saying "certificate
verify failed", never a traceback; a wrong password is refused and never shown.
Why Elasticsearch: OpenSearch serves HTTPS through its security plugin, which Maven Central
does not have for 2.19.6 (docs/security.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from es_ltrr.cli import main
from es_ltrr.common.settings import Settings
from es_ltrr.ops.devnode import NodeConfig, start, stop
from es_ltrr.ops.devnode.tls import generate
from es_ltrr.retrieval.engines.factory import cluster_engine

from ..servers import free_port
from .conftest import core_index_body, delete_indices

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

PASSWORD = "Pw-" + "93ab7e" * 4


@pytest.fixture(scope="module")
def tls_node(es_url, tmp_path_factory):
    """The HTTPS node's config (gated on the Elasticsearch test node: same Java, same zip,
    whose Maven cache it shares); stopped afterwards. `es_url` is only the gate."""
    default = NodeConfig.from_env(distribution="elasticsearch")
    home = Path(os.environ.get("ES_LTRR_TLS_NODE_HOME") or default.home.with_name(default.home.name + "-tls"))
    config = NodeConfig.from_env(distribution="elasticsearch", home=home, port=free_port(), ltr=False,
                                 tls_dir=generate(tmp_path_factory.mktemp("tls")).dir,
                                 downloads=default.home / "downloads", heap="512m")
    stop(config)  # a node an interrupted run left behind in this home
    shutil.rmtree(config.home / "data", ignore_errors=True)  # each run starts from an empty node
    start(config, progress=lambda _: None)
    yield config
    stop(config)


@pytest.fixture(scope="module")
def wrong_ca(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("other-ca"), "not the node's").ca


@pytest.fixture(scope="module")
def alias(tls_node):
    """An index behind a per-run alias on the HTTPS node (the mapping `apply` gives the
    integ-test zip: core analysis, the memory as sparse_vector), reached with --ca-certs."""
    name = f"es-ltrr-tls-{uuid.uuid4().hex[:8]}"
    settings = Settings.load(env={}, cluster_url=tls_node.url, flavor="elasticsearch", index=name,
                             ca_certs=str(tls_node.tls_dir / "ca.pem"))
    engine = cluster_engine(settings)
    engine.request("PUT", f"/{name}-core", core_index_body())
    engine.request("POST", "/_aliases", {"actions": [{"add": {"index": f"{name}-core", "alias": name}}]})
    yield name
    delete_indices(engine, f"{name}-*")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tls-data")


@pytest.fixture(scope="module")
def cli(tls_node, alias, small_catalog, data_dir):
    base = ["--catalog", str(small_catalog), "--data-dir", str(data_dir), "--no-embed",
            "--cluster", tls_node.url, "--flavor", "elasticsearch", "--index", alias]
    return lambda *args, env=None: CliRunner().invoke(main, [*base, *args], env=env)


def test_the_node_serves_https_only(tls_node):
    assert tls_node.url.startswith("https://127.0.0.1:")
    import http.client

    try:
        urllib.request.urlopen(tls_node.url.replace("https", "http") + "/_cluster/health", timeout=10).read()
        answered = True
    except urllib.error.HTTPError:  # an HTTP status is an answer too
        answered = True
    except (OSError, http.client.HTTPException):
        answered = False
    assert not answered, "plain HTTP must get no answer"


def test_with_the_right_ca_index_search_and_health_work(tls_node, cli):
    ca = str(tls_node.tls_dir / "ca.pem")
    indexed = cli("--ca-certs", ca, "index")
    assert indexed.exit_code == 0, indexed.output
    health = json.loads(indexed.output.strip().splitlines()[-1])
    assert health["status"] in ("green", "yellow") and health["docs"] > 100
    found = cli("--ca-certs", ca, "search", "memories maroon 5", "--json")
    assert found.exit_code == 0, found.output
    page = json.loads(found.stdout)
    statuses = {a["arm"]: a["status"] for a in page["arms"]}
    assert statuses["lexical"] == statuses["popular"] == statuses["q2e"] == "ok", page["arms"]
    assert any("Memories" in hit["name"] for hit in page["hits"][:3])


def test_the_admin_api_reindexes_the_cluster_over_https(tls_node, alias, small_catalog, data_dir):
    """`POST /admin/reindex` of a sidecar serving the HTTPS node (after the test above indexed)."""
    import time

    from es_ltrr.serving.process import build_app

    token = "Tk-" + "0a9b8c" * 4
    settings = Settings.load(env={}, cluster_url=tls_node.url, flavor="elasticsearch", index=alias, embed=False,
                             ca_certs=str(tls_node.tls_dir / "ca.pem"), catalog=small_catalog, data_dir=data_dir,
                             admin_token=token)
    client = build_app(settings, say=lambda _: None, fold_interval_s=3600, memory_interval_s=3600).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/admin/reindex", headers=headers).status_code == 202
    deadline = time.monotonic() + 120
    while (status := client.get("/admin/reindex", headers=headers).get_json()["reindex"])["state"] == "running":
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["state"] == "done" and status["docs"] > 100, status
    assert client.get("/healthz").get_json()["engine"]["status"] in ("green", "yellow")


@pytest.mark.parametrize("command", [["search", "love"], ["index"], ["apply", "--dry-run"]])
@pytest.mark.parametrize("ca", ["wrong", "system"])
def test_a_wrong_ca_is_refused_with_a_clear_error(tls_node, cli, wrong_ca, command, ca):
    result = cli(*(["--ca-certs", str(wrong_ca)] if ca == "wrong" else []), *command)
    assert result.exit_code == 2, result.output
    assert "certificate verify failed" in result.output and tls_node.url in result.output
    assert "--ca-certs" in result.output  # says what to do
    assert isinstance(result.exception, SystemExit)  # an error, not a traceback


def test_a_missing_ca_file_is_named(cli, tmp_path):
    result = cli("--ca-certs", str(tmp_path / "nope.pem"), "search", "love")
    assert result.exit_code == 2 and "nope.pem: no such file" in result.output


def test_a_wrong_password_is_refused_and_never_shown(tls_node, alias, small_catalog, tmp_path):
    command = [sys.executable, "-m", "es_ltrr.cli", "--catalog", str(small_catalog), "--data-dir", str(tmp_path),
               "--no-embed", "--cluster", tls_node.url.replace("https://", f"https://elastic:{PASSWORD}@"),
               "--flavor", "elasticsearch", "--index", alias, "--ca-certs", str(tls_node.tls_dir / "ca.pem"), "index"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "unable to authenticate user [elastic]" in output, output
    assert PASSWORD not in output and "Traceback" not in output
