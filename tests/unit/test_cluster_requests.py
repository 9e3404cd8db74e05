"""Request shapes of the LTR-plugin calls (sltr rescore, ltr_log, featureset and model
upload) and of the cluster transport, checked on a recording engine; the same calls run
against the real plugin in tests/integration/test_ltr_plugin.py."""

import numpy as np
import pytest

from es_ltrr.common.schema import Capabilities
from es_ltrr.ranking import PluginRanker
from es_ltrr.ranking.ltr import (
    MsearchFeatureLogger,
    PluginFeatureLogger,
    default_featureset,
    feature_logger,
    feature_params,
)
from es_ltrr.ranking.ltr.plugin import LtrPlugin
from es_ltrr.retrieval.engines.cluster import ClusterEngine
from es_ltrr.retrieval.union import Candidate
from es_ltrr.understanding import Understanding

NOTHING = Understanding("x", "x", ("x",), (), "unknown", 0.0)


class Recording(ClusterEngine):
    flavor = "opensearch"

    def __init__(self, reply):
        super().__init__(client=None, index="music", capabilities=Capabilities())
        self.calls, self.reply = [], reply

    def _perform(self, method, path, body, params, timeout_s=None):
        self.calls.append((method, path, body))
        return self.reply


def test_sltr_rescore_body_and_scores():
    engine = Recording({"hits": {"hits": [{"_id": "b", "_score": 2.5}, {"_id": "a", "_score": 1.0}]}})
    scores = PluginRanker("music-v1").score(engine, "x", NOTHING, [Candidate("a", {}), Candidate("b", {}), Candidate("c", {})])
    assert scores == [1.0, 2.5, 0.0]
    method, path, body = engine.calls[0]
    assert (method, path) == ("POST", "/music/_search")
    assert body["query"] == {"ids": {"values": ["a", "b", "c"]}}
    rescore = body["rescore"]
    assert rescore["window_size"] == 3
    sltr = rescore["query"]["rescore_query"]["sltr"]
    assert sltr["model"] == "music-v1" and sltr["params"]["keywords"] == "x"
    assert sltr["params"]["rank_lexical"] == [{"ids": {"values": []}}]  # no arm found them: matches nothing
    assert rescore["query"]["query_weight"] == 0.0


def test_ltr_log_request_and_parsing():
    reply = {"hits": {"hits": [{"_id": "a", "fields": {"_ltrlog": [{"features": [
        {"name": "name_bm25", "value": 3.0}, {"name": "log_popularity"}]}]}}]}}
    engine = Recording(reply)
    logged = LtrPlugin(engine).log_features(["a"], "music", {"keywords": "x"})
    assert logged == {"a": {"name_bm25": 3.0}}  # no value: the feature did not match
    body = engine.calls[0][2]
    assert body["query"] == {"ids": {"values": ["a"]}} and body["rescore"]["window_size"] == 1
    assert body["rescore"]["query"]["rescore_query"]["sltr"] == {"featureset": "music", "params": {"keywords": "x"}}
    assert body["ext"]["ltr_log"]["log_specs"] == {"name": "features", "rescore_index": 0, "missing_as_zero": False}


def test_plugin_logger_is_one_request_with_nan_for_missing():
    fs = default_featureset()
    reply = {"hits": {"hits": [{"_id": "b", "fields": {"_ltrlog": [{"features": [
        {"name": "name_bm25", "value": 3.0}, {"name": "log_popularity", "value": 4.0}]}]}}]}}
    engine = Recording(reply)
    values = PluginFeatureLogger().log(engine, fs, {"keywords": "x"}, ["a", "b"])
    assert len(engine.calls) == 1
    assert values.shape == (2, len(fs.names)) and np.isnan(values[0]).all()
    assert values[1, fs.names.index("name_bm25")] == 3.0 and values[1, fs.names.index("log_popularity")] == 4.0
    assert np.isnan(values[1, fs.names.index("rank_lexical")])


def test_plugin_logger_refuses_features_not_in_the_featureset():
    reply = {"hits": {"hits": [{"_id": "a", "fields": {"_ltrlog": [{"features": [{"name": "old", "value": 1.0}]}]}}]}}
    with pytest.raises(RuntimeError, match="'old', not in featureset"):
        PluginFeatureLogger().log(Recording(reply), default_featureset(), {}, ["a"])


def test_msearch_logger_marks_unmatched_features_nan():
    fs = default_featureset()
    engine = Recording({"responses": [{"hits": {"hits": [{"_id": "a", "_score": 2.0}]}} for _ in fs.names]})
    params = feature_params("x", NOTHING, [Candidate("a", {}), Candidate("b", {})])
    values = MsearchFeatureLogger().log(engine, fs, params, ["a", "b"])
    assert (values[0] == 2.0).all() and np.isnan(values[1]).all()


def test_the_logger_is_ltr_log_only_when_the_node_stores_our_featureset():
    fs = default_featureset()
    stored = Recording({"_source": fs.plugin_body()})
    assert feature_logger(LtrPlugin(stored), fs).kind == "ltr_log"
    other = fs.plugin_body()
    other["featureset"]["features"] = other["featureset"]["features"][:-1]
    assert feature_logger(LtrPlugin(Recording({"_source": other})), fs).kind == "msearch"
    assert feature_logger(None, fs).kind == "msearch"


def test_model_create_get_delete():
    engine = Recording({})
    LtrPlugin(engine).create_model("music", "music-v2", [{"nodeid": 0, "leaf": 1.0}])
    assert [(m, p) for m, p, _ in engine.calls] == [("POST", "/_ltr/_featureset/music/_createmodel")]
    assert engine.calls[0][2] == {"model": {"name": "music-v2", "model": {
        "type": "model/xgboost+json", "definition": [{"nodeid": 0, "leaf": 1.0}]}}}
    with pytest.raises(ValueError, match="model type"):
        LtrPlugin(engine).create_model("music", "m", [], model_type="model/onnx")
    found = Recording({"_id": "model-m", "found": True, "_source": {"name": "m", "type": "model", "model": {
        "name": "m", "model": {"type": "t", "definition": {}}}}})
    assert LtrPlugin(found).get_model("m") == {"name": "m", "model": {"type": "t", "definition": {}}}
    assert found.calls[0][:2] == ("GET", "/_ltr/_model/m")


def test_circuit_breaker_fails_fast_then_probes():
    from es_ltrr.retrieval.engines.cluster import CircuitBreaker, ClusterError

    now = [0.0]

    class Down(Recording):
        def _perform(self, method, path, body, params, timeout_s=None):
            self.calls.append(path)
            raise ConnectionError("refused")

    engine = Down(None)
    engine.breaker = CircuitBreaker(threshold=3, cooldown_s=10, clock=lambda: now[0])
    for _ in range(3):
        with pytest.raises(ClusterError, match="refused"):
            engine.request("GET", "/x")
    assert len(engine.calls) == 3
    with pytest.raises(ClusterError, match="circuit open") as fast:
        engine.request("GET", "/x")
    assert fast.value.status == 503
    assert len(engine.calls) == 3  # not sent
    now[0] = 11.0
    with pytest.raises(ClusterError, match="refused"):
        engine.request("GET", "/x")
    assert len(engine.calls) == 4  # one probe after the cool-down


def test_http_4xx_answers_do_not_open_the_circuit():
    from es_ltrr.retrieval.engines.cluster import ClusterError

    class BadRequest(Exception):
        status_code = 400

    class Rejecting(Recording):
        def _perform(self, method, path, body, params, timeout_s=None):
            raise BadRequest("parsing_exception")

    engine = Rejecting(None)
    for _ in range(10):
        with pytest.raises(ClusterError) as refused:
            engine.request("POST", "/_search")
        assert refused.value.status == 400
    assert engine.breaker.opened_at is None


def test_msearch_sends_the_per_arm_time_budget():
    engine = Recording({"responses": [{"hits": {"hits": []}}, {"hits": {"hits": []}}]})
    engine.search_timeout_ms = 250
    engine.msearch([{"query": {"match_all": {}}}, {"query": {"match_all": {}}, "timeout": "5s"}])
    lines = [l for l in engine.calls[0][2].splitlines() if l]
    import json as _json

    assert _json.loads(lines[1])["timeout"] == "250ms"
    assert _json.loads(lines[3])["timeout"] == "5s"


def _active_model(tmp_path):
    import xgboost as xgb

    from es_ltrr.common.datadir import DataDir
    from es_ltrr.ranking.ltr import LtrModel

    fs = default_featureset()
    x = np.random.default_rng(0).random((20, len(fs.names)))
    booster = xgb.train({}, xgb.DMatrix(x, label=x[:, 0], feature_names=fs.names), 2)
    data = DataDir(tmp_path)
    LtrModel(booster, fs, "m1").save(data.model_dir("m1"))
    data.activate_model("m1")
    return data


@pytest.mark.parametrize("stores,cluster,expected", [
    ({"stores": {"_default_": {}}}, True, "sltr:m1"),  # the plugin has a store: the model is there
    ({"stores": {}}, True, "xgboost:m1"),  # no feature store: scored in the sidecar
    ({"stores": {"_default_": {}}}, False, "xgboost:m1"),  # embedded engine
])
def test_the_active_model_ranks_with_sltr_where_the_plugin_serves(tmp_path, stores, cluster, expected):
    from es_ltrr.common.settings import Settings
    from es_ltrr.ranking import RRFRanker, label
    from es_ltrr.serving.wiring import ranker_for

    settings = Settings.load(env={}, data_dir=tmp_path, cluster_url="http://127.0.0.1:1" if cluster else None)
    ranker = ranker_for(settings, _active_model(tmp_path), Recording(stores), RRFRanker())
    assert label(ranker) == expected


def test_a_refused_model_names_the_plugins_innermost_reason():
    from es_ltrr.retrieval.engines.cluster import ClusterError

    class Refusing(Recording):
        def _perform(self, method, path, body, params, timeout_s=None):
            error = Exception("illegal_argument_exception: Error while parsing model")
            error.status_code = 400
            error.info = {"error": {"reason": "Error while parsing model", "caused_by": {
                "reason": "Unable to parse XGBoost object", "caused_by": {
                    "reason": "Objective [reg:squarederror] is not a valid XGBoost objective"}}}}
            raise error

    with pytest.raises(ClusterError, match=r"caused by: Unable to parse XGBoost object / Objective \[reg:squarederror\]") as info:
        LtrPlugin(Refusing(None)).create_model("music", "m", {})
    assert info.value.status == 400


class ReadTimeout(Exception):
    """Stands for the client library's timeout exception."""


class SlowArmNode(ClusterEngine):
    """A node on which a body containing "slow" never answers within the client's deadline."""

    flavor = "opensearch"
    timeout_errors = (ReadTimeout,)

    def __init__(self):
        super().__init__(client=None, index="music", capabilities=Capabilities())
        self.waits = []

    def _perform(self, method, path, body, params, timeout_s=None):
        self.waits.append(timeout_s)
        if '"slow"' in body:
            raise ReadTimeout("read timed out")
        hit = {"took": 2, "timed_out": False, "hits": {"hits": [{"_id": "a", "_score": 1.0}]}}
        return {"responses": [hit] * body.count('{"index"')}


def test_a_slow_arm_is_cut_at_the_deadline_and_the_others_keep_their_hits():
    from es_ltrr.retrieval.union import union

    engine = SlowArmNode()
    fast, slow = {"query": {"match": {"name": "x"}}}, {"query": {"match": {"name": "slow"}}}
    responses = engine.msearch([fast, slow, fast])
    assert [len(r.get("hits", {}).get("hits", [])) for r in responses] == [1, 0, 1]
    assert responses[1]["timed_out"] is True and "read timed out" in responses[1]["error"]["reason"]
    # one _msearch, then each body alone; every wait bounded by the budget plus the grace
    assert engine.waits == [engine.search_deadline_s] * 4 and engine.search_deadline_s == 2.0
    _, results = union(dict(zip(["lexical", "semantic", "popular"], responses)), {})
    assert [(r.arm, r.timed_out, bool(r.error)) for r in results] == [
        ("lexical", False, False), ("semantic", True, True), ("popular", False, False)]
    assert engine.breaker.failures == 0  # a slow arm is not a dead cluster
    (alone,) = engine.msearch([slow])  # a single body is not sent twice
    assert alone["timed_out"] is True and len(engine.waits) == 5


def test_a_refused_connection_is_not_retried_per_arm():
    class Down(SlowArmNode):
        def _perform(self, method, path, body, params, timeout_s=None):
            self.waits.append(timeout_s)
            raise ConnectionRefusedError("connection refused")

    engine = Down()
    responses = engine.msearch([{"size": 1}, {"size": 2}])
    assert len(engine.waits) == 1 and all(r["status"] == 502 and "timed_out" not in r for r in responses)


def test_the_breaker_opens_after_repeated_failures_and_probes_after_the_cooldown():
    from es_ltrr.retrieval.engines.cluster import CircuitBreaker, ClusterError

    now = [0.0]
    engine = SlowArmNode()
    engine.breaker = CircuitBreaker(threshold=2, cooldown_s=5, clock=lambda: now[0])
    slow = [{"query": {"match": {"name": "slow"}}}]
    engine.msearch(slow), engine.msearch(slow)
    assert engine.breaker.is_open
    with pytest.raises(ClusterError, match="circuit open") as refused:
        engine.request("GET", "/")
    assert refused.value.status == 503 and len(engine.waits) == 2  # nothing was sent
    now[0] = 5.0  # half-open: one probe goes through, and its success closes the circuit
    assert engine.msearch([{"size": 1}])[0]["hits"] and not engine.breaker.is_open


@pytest.mark.parametrize("flavor", ["opensearch", "elasticsearch"])
def test_the_connection_pool_is_sized_for_the_server_s_threads(flavor, tmp_path):
    """opensearch-py keeps one connection per node by default: a server answering on several
    threads logged "Connection pool is full, discarding connection … size: 1" under light
    traffic (issue 23, item 12). `serve --threads N` sizes it for N threads plus the parallel
    requests of one search; other commands for one thread."""
    from es_ltrr.common.settings import Settings
    from es_ltrr.retrieval.engines.cluster import MAX_PARALLEL
    from es_ltrr.retrieval.engines.factory import cluster_engine
    from es_ltrr.serving.process import sized_for

    def pool(settings) -> int:
        client = cluster_engine(settings).client
        if flavor == "opensearch":
            return client.transport.connection_pool.connections[0].pool.pool.maxsize
        return client.transport.node_pool.all()[0].pool.pool.maxsize

    settings = Settings.load(env={}, cluster_url="http://127.0.0.1:1", flavor=flavor, data_dir=tmp_path)
    assert pool(settings) == MAX_PARALLEL + 2
    assert pool(sized_for(settings, threads=16)) == 16 + MAX_PARALLEL + 2
    chosen = Settings.load(env={"ES_LTRR_CLUSTER_CONNECTIONS": "5"}, cluster_url="http://127.0.0.1:1", flavor=flavor,
                           data_dir=tmp_path)
    assert pool(sized_for(chosen, threads=16)) == 5  # a size set on purpose wins
