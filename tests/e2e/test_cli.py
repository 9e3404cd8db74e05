"""The es-ltrr command line on a small slice of the real catalog (no embedding model)."""

import json

import pytest
from click.testing import CliRunner

from es_ltrr.cli import main


@pytest.fixture(scope="module")
def run(small_catalog, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("cli")
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, ["--catalog", str(small_catalog), "--data-dir", str(data_dir), "--no-embed", *args])

    assert invoke("index").exit_code == 0
    return invoke


def test_search_json_is_the_http_response_shape(run):
    result = run("search", "memories maroon 5", "--k", "3", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body) >= {"impression_id", "arms", "hits", "timings_ms"} and len(body["hits"]) == 3


def test_search_table(run):
    result = run("search", "memories", "--k", "3")
    assert result.exit_code == 0
    assert "found by (arm#rank)" in result.stdout and "Memories" in result.stdout


@pytest.mark.parametrize("args", [("search", "   "), ("search", "x", "--k", "0"), ("search", "x", "--context", "[1]"),
                                  ("render", "nope", "love")])
def test_bad_input_exits_2_with_a_message(run, args):
    result = run(*args)
    assert result.exit_code == 2
    assert "error:" in result.stderr


def test_render_prints_the_body_sent(run):
    result = run("render", "lexical", 'say "hi" {{size}}', "--size", "7")
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert body["size"] == 7
    assert body["query"]["bool"]["should"][0]["multi_match"]["query"] == 'say "hi" {{size}}'


def test_render_of_an_arm_that_does_not_apply(run):
    result = run("render", "semantic", "love")  # --no-embed: no vector
    assert result.exit_code == 2 and "does not apply" in result.stderr


def test_mappings_check(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["mappings", "--check"]).exit_code == 0
    assert runner.invoke(main, ["mappings", "--check", "--out", str(tmp_path)]).exit_code == 2
