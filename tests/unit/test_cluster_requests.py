"""Request shapes of the LTR-plugin calls (sltr rescore, ltr_log, featureset and model
upload), checked on a recording engine. The plugin is not obtainable for the test node (see
docs/cluster.md), so these are the only checks those calls get here."""

import pytest

from es_ltrr.engines.cluster import ClusterEngine
from es_ltrr.ltr import default_featureset
from es_ltrr.ltr.plugin import LtrPlugin
from es_ltrr.ranking import PluginRanker
from es_ltrr.understanding import Understanding
from es_ltrr.union import Candidate

NOTHING = Understanding("x", "x", ("x",), (), "unknown", 0.0)


class Recording(ClusterEngine):
    flavor = "opensearch"

    def __init__(self, reply):
        super().__init__(client=None, index="music")
        self.calls, self.reply = [], reply

    def _perform(self, method, path, body, params):
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
    assert sltr["params"]["found_lexical"] == []
    assert rescore["query"]["query_weight"] == 0.0


def test_ltr_log_request_and_parsing():
    reply = {"hits": {"hits": [{"_id": "a", "fields": {"_ltrlog": [{"features": [
        {"name": "name_bm25", "value": 3.0}, {"name": "popularity"}]}]}}]}}
    engine = Recording(reply)
    logged = LtrPlugin(engine).log_features(["a"], "music", {"keywords": "x"})
    assert logged == {"a": {"name_bm25": 3.0, "popularity": 0.0}}
    body = engine.calls[0][2]
    sltr = body["query"]["bool"]["filter"][1]["sltr"]
    assert sltr["_name"] == body["ext"]["ltr_log"]["log_specs"]["named_query"]
    assert sltr["featureset"] == "music"


def test_featureset_upload_body_is_the_plugin_format():
    fs = default_featureset()
    body = fs.plugin_body()
    features = body["featureset"]["features"]
    assert [f["name"] for f in features] == fs.names
    assert all(f["template_language"] == "mustache" and isinstance(f["template"], str) for f in features)


def test_model_upload_deletes_then_creates():
    engine = Recording({})
    LtrPlugin(engine).upload_model("music", "music-v2", [{"nodeid": 0, "leaf": 1.0}])
    assert [(m, p) for m, p, _ in engine.calls] == [
        ("DELETE", "/_ltr/_model/music-v2"), ("POST", "/_ltr/_featureset/music/_createmodel")]
    assert engine.calls[1][2] == {"model": {"name": "music-v2", "model": {
        "type": "model/xgboost+json", "definition": [{"nodeid": 0, "leaf": 1.0}]}}}
    with pytest.raises(ValueError, match="model type"):
        LtrPlugin(engine).upload_model("music", "m", [], model_type="model/onnx")


def test_circuit_breaker_fails_fast_then_probes():
    from es_ltrr.engines.cluster import CircuitBreaker, ClusterError

    now = [0.0]

    class Down(Recording):
        def _perform(self, method, path, body, params):
            self.calls.append(path)
            raise ConnectionError("refused")

    engine = Down(None)
    engine.breaker = CircuitBreaker(threshold=3, cooldown_s=10, clock=lambda: now[0])
    for _ in range(3):
        try:
            engine.request("GET", "/x")
        except ClusterError:
            pass
    assert len(engine.calls) == 3
    try:
        engine.request("GET", "/x")
    except ClusterError as exc:
        assert "circuit open" in str(exc) and exc.status == 503
    assert len(engine.calls) == 3  # not sent
    now[0] = 11.0
    try:
        engine.request("GET", "/x")
    except ClusterError:
        pass
    assert len(engine.calls) == 4  # one probe after the cool-down


def test_http_4xx_answers_do_not_open_the_circuit():
    from es_ltrr.engines.cluster import ClusterError

    class BadRequest(Exception):
        status_code = 400

    class Rejecting(Recording):
        def _perform(self, method, path, body, params):
            raise BadRequest("parsing_exception")

    engine = Rejecting(None)
    for _ in range(10):
        try:
            engine.request("POST", "/_search")
        except ClusterError as exc:
            assert exc.status == 400
    assert engine.breaker.opened_at is None


def test_msearch_sends_the_per_arm_time_budget():
    engine = Recording({"responses": [{"hits": {"hits": []}}, {"hits": {"hits": []}}]})
    engine.search_timeout_ms = 250
    engine.msearch([{"query": {"match_all": {}}}, {"query": {"match_all": {}}, "timeout": "5s"}])
    lines = [l for l in engine.calls[0][2].splitlines() if l]
    import json as _json

    assert _json.loads(lines[1])["timeout"] == "250ms"
    assert _json.loads(lines[3])["timeout"] == "5s"
