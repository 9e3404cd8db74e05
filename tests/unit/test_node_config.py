"""NodeConfig: per-distribution defaults, and markers written before Elasticsearch support."""

import json

import pytest

from es_ltrr.node import MARKER, NodeConfig, NodeError, _read_marker, _spec


def test_opensearch_stays_the_default(monkeypatch):
    monkeypatch.delenv("ES_LTRR_NODE_HOME", raising=False)
    monkeypatch.delenv("ES_LTRR_LTR_ZIP", raising=False)
    config = NodeConfig()
    assert (config.distribution, config.version, config.port) == ("opensearch", "2.19.6", 9200)
    assert config.home.name == "node" and config.dist.name == "opensearch-2.19.6"
    assert config.url == "http://127.0.0.1:9200"


def test_elasticsearch_defaults_and_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv("ES_LTRR_ES_NODE_HOME", raising=False)
    monkeypatch.setenv("ES_LTRR_LTR_ZIP", "/opensearch/only.zip")  # not the Elasticsearch plugin
    config = NodeConfig(distribution="elasticsearch")
    assert (config.version, config.port, config.ltr_zip) == ("8.19.21", 9201, None)
    assert config.home.name == "node-elasticsearch" and config.dist.name == "elasticsearch-8.19.21"
    assert _spec(config)["modules"] == [] and _spec(config)["knn"] is False
    custom = NodeConfig(distribution="elasticsearch", home=tmp_path, port=9333)
    assert (custom.home, custom.port, custom.version) == (tmp_path, 9333, "8.19.21")


def test_unknown_distribution_is_refused():
    with pytest.raises(NodeError, match="unknown distribution"):
        NodeConfig(distribution="solr")


def test_markers_without_distribution_are_opensearch(tmp_path, monkeypatch):
    monkeypatch.delenv("ES_LTRR_LTR_ZIP", raising=False)
    config = NodeConfig(home=tmp_path)
    config.dist.mkdir(parents=True)
    old = {k: v for k, v in _spec(config).items() if k != "distribution"}
    (config.dist / MARKER).write_text(json.dumps(old))
    assert {k: _read_marker(config.dist).get(k) for k in _spec(config)} == _spec(config)
