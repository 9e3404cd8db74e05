"""NodeConfig: per-distribution defaults, settings from an env mapping, and markers written
before Elasticsearch support."""

import json
from pathlib import Path

import pytest

from es_ltrr.ops.devnode import NodeConfig, NodeError
from es_ltrr.ops.devnode.assemble import MARKER, assembly_spec, read_marker
from es_ltrr.ops.devnode.host import java_home


def test_opensearch_stays_the_default():
    config = NodeConfig.from_env({})
    assert (config.distribution, config.version, config.port) == ("opensearch", "2.19.6", 9200)
    assert config.home == Path("~/.cache/es-ltrr/node").expanduser()
    assert config.dist.name == "opensearch-2.19.6" and config.pid_file == config.home / "node.pid"
    assert config.url == "http://127.0.0.1:9200"
    assert (config.ltr_zip, config.java_homes) == (None, ())


def test_elasticsearch_defaults_and_overrides(tmp_path):
    env = {"ES_LTRR_LTR_ZIP": "/opensearch/only.zip"}  # not the Elasticsearch plugin
    config = NodeConfig.from_env(env, distribution="elasticsearch")
    assert (config.version, config.port, config.ltr_zip) == ("8.19.21", 9201, None)
    assert config.home == Path("~/.cache/es-ltrr/node-elasticsearch").expanduser()
    assert config.dist.name == "elasticsearch-8.19.21"
    assert assembly_spec(config)["modules"] == [] and assembly_spec(config)["knn"] is False
    custom = NodeConfig.from_env({}, distribution="elasticsearch", home=tmp_path, port=9333)
    assert (custom.home, custom.port, custom.version) == (tmp_path, 9333, "8.19.21")


def test_the_environment_names_homes_plugins_and_java(tmp_path):
    env = {"ES_LTRR_NODE_HOME": str(tmp_path / "os"), "ES_LTRR_LTR_ZIP": "/z/ltr.zip",
           "ES_LTRR_ES_NODE_HOME": str(tmp_path / "es"), "ES_LTRR_ES_LTR_ZIP": "/z/es-ltr.zip",
           "OPENSEARCH_JAVA_HOME": "/jdk/os", "ES_JAVA_HOME": "/jdk/es", "JAVA_HOME": "/jdk/any"}
    opensearch = NodeConfig.from_env(env)
    assert (opensearch.home, opensearch.ltr_zip) == (tmp_path / "os", Path("/z/ltr.zip"))
    assert opensearch.java_homes == (Path("/jdk/os"), Path("/jdk/any"))
    elastic = NodeConfig.from_env(env, distribution="elasticsearch")
    assert (elastic.home, elastic.ltr_zip) == (tmp_path / "es", Path("/z/es-ltr.zip"))
    assert elastic.java_homes == (Path("/jdk/es"), Path("/jdk/any"))
    # an explicit option wins over the environment; None means "not given"
    assert NodeConfig.from_env(env, home=tmp_path, port=None).home == tmp_path


def test_java_outside_the_supported_range_is_skipped(tmp_path, monkeypatch):
    def fake_jdk(name: str, version: str) -> Path:
        java = tmp_path / name / "bin" / "java"
        java.parent.mkdir(parents=True)
        java.write_text(f'#!/bin/sh\necho \'openjdk version "{version}" 2025-01-01\' >&2\n')
        java.chmod(0o755)
        return tmp_path / name

    monkeypatch.setenv("PATH", str(tmp_path))  # no java on PATH
    too_new, good = fake_jdk("jdk24", "24.0.1"), fake_jdk("jdk17", "17.0.9")
    assert java_home(NodeConfig.from_env({"OPENSEARCH_JAVA_HOME": str(too_new), "JAVA_HOME": str(good)})) == good
    with pytest.raises(NodeError, match="no Java 17-23"):
        java_home(NodeConfig.from_env({"JAVA_HOME": str(too_new)}, distribution="elasticsearch"))


def test_unknown_distribution_is_refused():
    with pytest.raises(NodeError, match="unknown distribution"):
        NodeConfig(distribution="solr")
    with pytest.raises(NodeError, match="unknown distribution"):
        NodeConfig.from_env({}, distribution="solr")


def test_markers_without_distribution_are_opensearch(tmp_path):
    config = NodeConfig.from_env({}, home=tmp_path)
    config.dist.mkdir(parents=True)
    old = {k: v for k, v in assembly_spec(config).items() if k != "distribution"}
    (config.dist / MARKER).write_text(json.dumps(old))
    assert {k: read_marker(config.dist).get(k) for k in assembly_spec(config)} == assembly_spec(config)
