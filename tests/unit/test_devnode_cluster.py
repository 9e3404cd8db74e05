"""A local multi-node cluster's layout (es_ltrr.ops.devnode.cluster) without starting one: the
members' homes, ports, config dirs and settings files. The real 3-node cluster runs in
tests/integration/test_multinode.py."""

import json
from pathlib import Path

import pytest

from es_ltrr.ops.devnode import NodeConfig, NodeError, cluster
from es_ltrr.ops.devnode.lifecycle import _runtime_dirs, _write_settings


def _fake_dist(config: NodeConfig) -> None:
    conf = config.dist / "config"
    conf.mkdir(parents=True)
    (conf / "jvm.options").write_text("-XX:ErrorFile=logs/hs_err_pid%p.log\n"
                                      "9-:-Xlog:gc*:file=logs/gc.log:utctime\n")
    (conf / "log4j2.properties").write_text("status = error\n")
    (conf / f"{config.distribution}.yml").write_text("cluster.name: single\n")
    (conf / f"{config.distribution}.keystore").write_text("the single node's")


def test_members_share_one_distribution_and_get_their_own_homes_and_ports(tmp_path):
    base = NodeConfig(home=tmp_path)
    members = cluster.members(base, 3, heap="384m")
    assert [m.url for m in members] == ["http://127.0.0.1:9250", "http://127.0.0.1:9251", "http://127.0.0.1:9252"]
    assert {m.dist for m in members} == {base.dist}
    assert [m.home for m in members] == [tmp_path / "cluster" / f"node-{i}" for i in range(3)]
    assert [m.conf_dir for m in members] == [m.home / "config" for m in members]
    assert [m.member.transport_port for m in members] == [10250, 10251, 10252]
    assert {m.heap for m in members} == {"384m"}
    assert cluster.urls(members) == "http://127.0.0.1:9250,http://127.0.0.1:9251,http://127.0.0.1:9252"
    es = cluster.members(NodeConfig(home=tmp_path, distribution="elasticsearch"), 2, port=9400)
    assert [m.port for m in es] == [9400, 9401] and es[0].member.seeds == ("127.0.0.1:10400", "127.0.0.1:10401")
    with pytest.raises(NodeError, match="at least 2"):
        cluster.members(base, 1)


@pytest.mark.parametrize("distribution, initial", [("opensearch", "cluster.initial_cluster_manager_nodes"),
                                                   ("elasticsearch", "cluster.initial_master_nodes")])
def test_a_member_writes_discovery_settings_into_its_own_config_dir(tmp_path, distribution, initial):
    base = NodeConfig(home=tmp_path, distribution=distribution)
    _fake_dist(base)
    member = cluster.members(base, 3)[1]
    _write_settings(member)
    lines = (member.conf_dir / f"{distribution}.yml").read_text().splitlines()
    settings = {k: json.loads(v) for k, v in (line.split(": ", 1) for line in lines)}
    assert "discovery.type" not in settings
    assert settings["cluster.name"] == "es-ltrr-cluster" and settings["node.name"] == "es-ltrr-node-1"
    assert (settings["http.port"], settings["transport.port"]) == (member.port, member.port + 1000)
    first = base.distro.cluster_port + 1000
    assert settings["discovery.seed_hosts"] == [f"127.0.0.1:{first + i}" for i in range(3)]
    assert settings[initial] == ["es-ltrr-node-0", "es-ltrr-node-1", "es-ltrr-node-2"]
    assert settings["path.data"] == str(member.home / "data")
    # the distribution's own settings and keystore stay the single node's
    assert (base.dist / "config" / f"{distribution}.yml").read_text() == "cluster.name: single\n"
    assert not list(member.conf_dir.glob("*.keystore"))
    jvm = (member.conf_dir / "jvm.options").read_text()
    assert f"file={member.home / 'logs'}/gc.log" in jvm and f"ErrorFile={member.home / 'logs'}/hs_err" in jvm
    assert (member.conf_dir / "log4j2.properties").is_file()
    assert base.dist / "logs" not in _runtime_dirs(member) and member.conf_dir in _runtime_dirs(member)


def test_the_single_node_keeps_its_settings(tmp_path):
    base = NodeConfig(home=tmp_path)
    _fake_dist(base)
    _write_settings(base)
    text = (base.dist / "config" / "opensearch.yml").read_text()
    assert 'discovery.type: "single-node"' in text and "seed_hosts" not in text


def test_the_recorded_layout_finds_the_members_again(tmp_path):
    base = NodeConfig(home=tmp_path)
    assert cluster.recorded(base) == [] and cluster.status(base)["running"] is False
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / cluster.LAYOUT).write_text(json.dumps(
        {"distribution": "opensearch", "nodes": 3, "port": 9300, "heap": "512m"}))
    found = cluster.recorded(base)
    assert [m.port for m in found] == [9300, 9301, 9302] and {m.heap for m in found} == {"512m"}
    assert cluster.recorded(NodeConfig(home=tmp_path, distribution="elasticsearch")) == []
    status = cluster.status(base)
    assert status["running"] is False and [n["running"] for n in status["nodes"]] == [False] * 3
    assert cluster.stop(base) == 0


def test_heap_is_sized_for_the_machine():
    assert cluster.cluster_heap(3, 24 * 2**30) == "512m"
    assert cluster.cluster_heap(3, 23 * 2**30 + 600 * 2**20) == "512m"
    assert cluster.cluster_heap(9, 8 * 2**30) == "256m"
    assert cluster.cluster_heap(2, 256 * 2**30) == "1024m"
    assert Path(NodeConfig(home=Path("/h")).conf_dir) == Path("/h/opensearch-2.19.6/config")
