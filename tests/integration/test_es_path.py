"""The whole Elasticsearch path through the CLI, on the Elasticsearch test node (issue 23, item 1).

`apply` → `index` → `search` → `serve` + `POST /feedback` (the Q2E memory learns a pair the
q2e arm then returns first) → `train` (on that feedback, uploaded with parity) →
`upload-model --activate` (parity ≤ 1e-4) → `search` ranked by `sltr`, every step the real
`es-ltrr` command against the node `es-ltrr node start --distribution elasticsearch` runs.

That node is Elastic's integ-test zip: no mapper-extras, analysis-common, lang-mustache or
reindex module (Elastic publishes no 8.x artifacts of them). `apply` used to stop at
"cluster lacks: mapper-extras"; it now reads the node's `Capabilities` and stores the memory
as a sparse_vector (queried with `term`) with core analysis (docs/cluster.md). Pointed at a
full distribution (ES_LTRR_TEST_ES_CLUSTER) the same test runs with rank_features.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import uuid

import pytest
from click.testing import CliRunner

from es_ltrr.cli import main
from es_ltrr.common.settings import Settings
from es_ltrr.ops.apply import installed_components
from es_ltrr.ranking.ltr.plugin import LtrPlugin
from es_ltrr.ranking.ltr.upload import PARITY_TOLERANCE
from es_ltrr.retrieval.engines.factory import cluster_engine

from ..judgments import grade
from ..servers import Server, free_port, post_json
from .conftest import QUERIES, delete_indices

pytestmark = pytest.mark.cluster

#: A misspelling no cold-start memory knows; users who type it play the song below.
MISSPELT = "memorys maroonn fiv"
INTENDED = "memories maroon 5"


@pytest.fixture(scope="module")
def node(es_url, small_catalog, tmp_path_factory):
    """The CLI's arguments for a per-run alias on the Elasticsearch node, its engine and data
    dir; the alias's indices and the run's models are removed afterwards."""
    alias = f"es-ltrr-it-path-{uuid.uuid4().hex[:8]}"
    data = tmp_path_factory.mktemp("es-path")
    args = ["--catalog", str(small_catalog), "--data-dir", str(data), "--no-embed", "--cluster", es_url,
            "--flavor", "elasticsearch", "--index", alias]
    engine = cluster_engine(Settings.load(env={}, cluster_url=es_url, flavor="elasticsearch", index=alias))
    models: list[str] = []
    yield args, engine, data, models
    plugin = LtrPlugin(engine)
    for name in models:
        plugin.delete_model(name)
    delete_indices(engine, f"{alias}-*")


def cli(args: list[str], *command: str):
    result = CliRunner().invoke(main, [*args, *command])
    assert result.exit_code == 0, result.output
    return result


def arms_of(page: dict) -> dict[str, dict]:
    return {a["arm"]: a for a in page["arms"]}


def q2e_ids(url: str, query: str) -> list[str]:
    status, page = post_json(f"{url}/search", {"query": query, "k": 10, "debug": True})
    assert status == 200, page
    (q2e,) = [a for a in page["arm_results"] if a["arm"] == "q2e"]
    return q2e["ids"]


def test_the_elasticsearch_path_end_to_end(node):
    args, engine, data, models = node
    components = installed_components(engine)

    # apply: the music schema with what the node has, and the LTR featureset
    applied = cli(args, "apply").stdout
    memory = "rank_features" if "mapper-extras" in components else "sparse_vector"
    assert ("q2e as sparse_vector" in applied) == (memory == "sparse_vector"), applied
    assert "store       featureset music" in applied or "unchanged   featureset music" in applied, applied
    mapping = next(iter(engine.request("GET", f"/{engine.index_name}/_mapping").values()))["mappings"]
    assert mapping["properties"]["q2e"] == {"type": memory}
    again = cli(args, "apply").stdout
    assert "create" not in again and "unchanged   index" in again, again

    # index, then search: every arm answers, the memory's too
    health = json.loads(cli(args, "index").stdout.strip().splitlines()[-1])
    assert health["docs"] > 100 and health["flavor"] == "elasticsearch"
    page = json.loads(cli(args, "search", INTENDED, "--json").stdout)
    assert {a["status"] for a in page["arms"]} <= {"ok", "not_applicable"} and not page["partial"], page["arms"]
    assert arms_of(page)["q2e"]["status"] == "ok" and arms_of(page)["q2e"]["returned"] > 0, page["arms"]
    assert page["ranker"] == "rrf"
    target = page["hits"][0]["id"]
    assert "Memories" in page["hits"][0]["name"]

    # serve + feedback: users who misspell it play the song; the memory learns the pair
    base = [sys.executable, "-m", "es_ltrr.cli", *args]
    server = Server(base, free_port(), ["--fold-interval", "0.5", "--memory-interval", "1"])
    try:
        assert q2e_ids(server.url, MISSPELT)[:1] != [target]
        for user in range(12):
            status, page = post_json(f"{server.url}/search", {"query": MISSPELT, "k": 50,
                                                              "context": {"client_id": f"u{user}"}})
            assert status == 200 and target in [h["id"] for h in page["hits"]], page["hits"][:3]
            status, report = post_json(f"{server.url}/feedback", {"query_id": page["impression_id"],
                                                                  "action_name": "play", "object_id": target})
            assert status == 200 and report["accepted"] == 1, report
        # feedback for training: on each query's page, users play the hits an assessor would grade best
        for user in range(2):
            for query in [*QUERIES, "david guetta", "marshmello", "dua lipa"]:  # held out: training.split_of
                status, page = post_json(f"{server.url}/search", {"query": query, "k": 10,
                                                                  "context": {"client_id": f"t{user}"}})
                played = sorted(page["hits"], key=lambda h: -grade(query, h))[:2]
                played = [h["id"] for h in played if grade(query, h)] or [h["id"] for h in page["hits"][:1]]
                events = [{"query_id": page["impression_id"], "action_name": "play", "object_id": i} for i in played]
                if events:
                    assert post_json(f"{server.url}/feedback", events)[0] == 200
        deadline = time.time() + 30
        while q2e_ids(server.url, MISSPELT)[:1] != [target] and time.time() < deadline:
            time.sleep(0.5)
        assert q2e_ids(server.url, MISSPELT)[0] == target
    finally:
        server.process.send_signal(signal.SIGINT)
        server.process.wait(timeout=60)
    key = MISSPELT.replace(" ", "_")
    assert engine.get([target])[target]["q2e"][key] > 0.5

    # train on that feedback (features through the plugin's ltr_log); --no-activate: saved, not uploaded
    trained = json.loads(cli(args, "train", "--no-activate", "--judged-queries", "40", "--json").stdout)
    name = trained["model"]
    models.append(name)
    assert trained["judged_queries"] > 0 and not trained["activated"], trained
    assert LtrPlugin(engine).get_model(name) is None

    # upload-model: the trained file (it keeps its name), parity-checked against sltr, activated
    uploaded = json.loads(cli(args, "upload-model", str(data / "models" / name / "model.json"),
                              "--activate", "--json").stdout)
    assert uploaded["name"] == name and uploaded["active"] is True and uploaded["featureset"] == "music"
    assert uploaded["parity_max_abs_diff"] <= PARITY_TOLERANCE
    assert LtrPlugin(engine).get_model(name) is not None

    # search, ranked inside the node by sltr, the memory still answering
    page = json.loads(cli(args, "search", MISSPELT, "--json").stdout)
    assert page["ranker"] == f"sltr:{name}", page["ranker"]
    assert {a["status"] for a in page["arms"]} <= {"ok", "not_applicable"} and not page["partial"], page["arms"]
    assert arms_of(page)["q2e"]["status"] == "ok", page["arms"]
    assert target in [h["id"] for h in page["hits"][:3]]
