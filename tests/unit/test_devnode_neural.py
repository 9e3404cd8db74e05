"""`es-ltrr node start --neural-search`: the neural-search plugin on request, the default node
unchanged (an existing assembly is not redone), its zip pinned (Central has no .sha1)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from es_ltrr.cli import main
from es_ltrr.ops.devnode import NodeConfig
from es_ltrr.ops.devnode.assemble import MARKER, NEURAL_PLUGINS, assembly_spec, read_marker
from es_ltrr.ops.devnode.maven import PINNED_SHA1


def test_neural_search_is_asked_for_and_opensearch_only(tmp_path):
    assert assembly_spec(NodeConfig(home=tmp_path, ltr=False))["neural_search"] is False
    assert assembly_spec(NodeConfig(home=tmp_path, ltr=False, neural_search=True))["neural_search"] is True
    es = NodeConfig(distribution="elasticsearch", home=tmp_path, ltr=False, neural_search=True)
    assert assembly_spec(es)["neural_search"] is False


def test_a_home_assembled_before_the_option_is_not_assembled_again(tmp_path):
    config = NodeConfig(home=tmp_path, ltr=False)
    wanted = assembly_spec(config)
    old = {k: v for k, v in wanted.items() if k != "neural_search"}  # a marker written before the option
    config.dist.mkdir(parents=True)
    (config.dist / MARKER).write_text(json.dumps(old))
    assert {k: read_marker(config.dist).get(k) for k in wanted} == wanted


def test_the_plugin_zips_are_pinned():
    for name in NEURAL_PLUGINS:
        assert f"org.opensearch.plugin:{name}:2.19.6.0@zip" in PINNED_SHA1


def test_node_start_offers_the_option():
    result = CliRunner().invoke(main, ["node", "start", "--help"])
    assert result.exit_code == 0 and "--neural-search" in result.output
