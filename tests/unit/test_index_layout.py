"""The index's shards and replicas (`apply --shards/--replicas`, `shards`/`replicas` in the
settings) and `search_type`, without a node: what the settings accept, what the index version
hashes, what the msearch header carries. On a real 3-node cluster: tests/integration/test_multinode.py."""

import hashlib
import json

import pytest

from es_ltrr.common.schema import MUSIC
from es_ltrr.common.settings import Settings
from es_ltrr.ops.apply import ApplyError, Layout, index_version
from es_ltrr.retrieval.engines.cluster import ClusterEngine
from es_ltrr.retrieval.engines.factory import cluster_engine


def test_one_shard_keeps_the_version_every_deployment_has_and_replicas_never_change_it():
    before = hashlib.sha256(json.dumps(MUSIC.index_body("opensearch"), sort_keys=True).encode()).hexdigest()[:8]
    assert index_version(MUSIC, "opensearch") == index_version(MUSIC, "opensearch", 1) == before
    assert index_version(MUSIC, "opensearch", 3) != before  # shards cannot change in place: a new version
    body = MUSIC.index_body("opensearch", shards=3, replicas=2)["settings"]["index"]
    assert (body["number_of_shards"], body["number_of_replicas"], body["knn"]) == (3, 2, True)


def test_layouts_are_checked_and_printed():
    assert str(Layout(3, 1)) == "3 shards, 1 replica" and str(Layout()) == "1 shard, 0 replicas"
    for bad in (Layout(0, 0), Layout(2, -1), Layout("3", 1)):
        with pytest.raises(ApplyError):
            bad.check()


def test_settings_take_shards_replicas_and_search_type_from_toml_and_env(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('shards = 3\nreplicas = 1\nsearch_type = "dfs_query_then_fetch"\n')
    settings = Settings.load(config, env={})
    assert (settings.shards, settings.replicas, settings.search_type) == (3, 1, "dfs_query_then_fetch")
    from_env = Settings.load(env={"ES_LTRR_SHARDS": "2", "ES_LTRR_REPLICAS": "0"})
    assert (from_env.shards, from_env.replicas) == (2, 0)
    assert (Settings.load(env={}).shards, Settings.load(env={}).replicas) == (None, None)
    config.write_text('shards = "three"\n')
    with pytest.raises(ValueError, match=r"'shards' must be an? integer"):
        Settings.load(config, env={})
    with pytest.raises(ValueError, match="'replicas' must be an integer"):
        Settings.load(env={"ES_LTRR_REPLICAS": "one"})


class Recording(ClusterEngine):
    flavor = "opensearch"

    def __init__(self):
        super().__init__(client=None, index="music")
        self.bodies = []

    def _perform(self, method, path, body, params, timeout_s=None):
        self.bodies.append(body)
        return {"responses": [{"hits": {"hits": []}}]}


def test_search_type_rides_in_every_msearch_header():
    engine = Recording()
    engine.msearch([{"query": {"match_all": {}}}])
    assert json.loads(engine.bodies[-1].splitlines()[0]) == {"index": "music"}
    engine.search_type = "dfs_query_then_fetch"
    engine.msearch([{"query": {"match_all": {}}}])
    assert json.loads(engine.bodies[-1].splitlines()[0]) == {"index": "music", "search_type": "dfs_query_then_fetch"}


def test_an_unknown_search_type_is_refused():
    settings = Settings.load(env={}, cluster_url="http://127.0.0.1:1", flavor="opensearch", search_type="dfs")
    with pytest.raises(ValueError, match="search_type 'dfs': use query_then_fetch or dfs_query_then_fetch"):
        cluster_engine(settings)
