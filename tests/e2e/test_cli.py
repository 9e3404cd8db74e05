"""The es-ltrr command line on a small slice of the real catalog (no embedding model)."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from es_ltrr.cli import main
from es_ltrr.retrieval.arms import ARMS
from es_ltrr.search.request import MAX_QUERY_CHARS
from es_ltrr.serving.contract import MAX_CONTEXT_DEPTH

from ..hostile import QUERIES, tally


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


@pytest.mark.parametrize(
    "args, message",
    [
        (("search", "love \ud800"), "error: 'query' is not valid Unicode"),
        (("render", "lexical", "\udfff"), "error: 'query' is not valid Unicode"),
        (("search", "x", "--context", '{"a": "\udc00"}'), "error: 'context.a' is not valid Unicode"),
        (("search", "x", "--context", "[" * 5000 + "]" * 5000), "error: --context is nested too deeply"),
        (("search", "x", "--context", '{"a": ' + "[" * MAX_CONTEXT_DEPTH + "]" * MAX_CONTEXT_DEPTH + "}"),
         f"error: 'context' is nested deeper than {MAX_CONTEXT_DEPTH} levels"),
        (("search", "x", "--context", "{nope"), "error: --context is not valid JSON"),
        (("search", "x", "--context", "[1]"), "error: --context must be a JSON object"),
        (("search", "x", "--context", '"{}"'), "error: --context must be a JSON object"),
        (("search", "x" * (MAX_QUERY_CHARS + 1)), f"error: 'query' is longer than the limit of {MAX_QUERY_CHARS} characters"),
    ],
)
def test_hostile_input_is_a_clean_error(run, args, message):
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message)


def test_undecodable_argument_bytes_are_a_clean_error(tmp_path):
    """A real shell: bytes that are not UTF-8 reach Python as lone surrogates (surrogateescape)."""
    cmd = [sys.executable, "-m", "es_ltrr.cli", "--no-embed", "search", b"caf\xe9"]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.decode() == "error: 'query' is not valid Unicode: it contains an unpaired UTF-16 surrogate (U+DCE9)\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=QUERIES)
def test_any_query_is_a_page_or_a_clean_error(run, query):
    result = run("search", "--k", "3", "--json", "--", query)  # "--": a query may start with "-"
    tally("cli: generated queries (test_cli)")
    if result.exit_code == 0:
        assert isinstance(json.loads(result.stdout)["hits"], list)
    else:
        assert result.exit_code == 2 and result.stderr.startswith("error: "), (result.output, result.exception)


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


def test_settings_options_work_after_the_command_too(small_catalog, tmp_path):
    """`es-ltrr --data-dir D search Q` and `es-ltrr search Q --data-dir D` are the same."""
    from click.testing import CliRunner

    from es_ltrr.cli import main

    runner = CliRunner()
    after = runner.invoke(main, ["search", "memories", "--json", "--catalog", str(small_catalog),
                                 "--data-dir", str(tmp_path), "--no-embed"])
    assert after.exit_code == 0, after.output
    assert (tmp_path / "manifest.json").exists()  # the option reached the settings
    before = runner.invoke(main, ["--catalog", str(small_catalog), "--data-dir", str(tmp_path), "--no-embed",
                                  "search", "memories", "--json"])
    assert before.exit_code == 0, before.output
    first, second = json.loads(after.stdout), json.loads(before.stdout)
    assert [h["id"] for h in first["hits"]] == [h["id"] for h in second["hits"]]
    assert "semantic" not in {a["arm"] for a in first["arms"]}  # --no-embed after the command


def test_an_option_after_the_command_overrides_the_one_before(small_catalog, tmp_path):
    from click.testing import CliRunner

    from es_ltrr.cli import main

    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "before"), "search", "memories",
                                       "--catalog", str(small_catalog), "--no-embed", "--data-dir", str(tmp_path / "after")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "after" / "manifest.json").exists() and not (tmp_path / "before").exists()


def test_apply_takes_the_cluster_after_the_command():
    from click.testing import CliRunner

    from es_ltrr.cli import main

    result = CliRunner().invoke(main, ["apply", "--dry-run", "--cluster", "http://127.0.0.1:1", "--flavor", "opensearch"])
    assert result.exit_code == 2 and "port=1" in result.output  # it tried that cluster


def test_version_is_the_installed_package_version():
    from importlib.metadata import version

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"es-ltrr {version('es-ltrr')}\n"


def test_render_help_lists_the_arms_of_the_registry():
    result = CliRunner().invoke(main, ["render", "--help"])
    assert result.exit_code == 0
    for name, arm in ARMS.items():
        assert f"  {name} " in result.stdout and arm.description in result.stdout


def test_an_unknown_arm_lists_the_arms(run):
    result = run("render", "nope", "love")
    assert result.exit_code == 2
    assert result.stderr == f"error: unknown arm 'nope'; arms: {', '.join(ARMS)}\n"


def test_search_help_states_the_query_limit():
    result = CliRunner().invoke(main, ["search", "--help"])
    assert result.exit_code == 0 and f"QUERY has at most {MAX_QUERY_CHARS} characters" in result.stdout


def test_search_from_two_directories_uses_one_data_dir(small_catalog, tmp_path, monkeypatch):
    """The default data dir is the platform's (XDG), not `.es-ltrr` in the working directory."""
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "ES_LTRR_DATA_DIR": None, "ES_LTRR_CACHE_DIR": None, "ES_LTRR_CONFIG": None}
    outputs = []
    for cwd in (tmp_path / "a", tmp_path / "b"):
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        result = CliRunner().invoke(main, ["search", "memories", "--json", "--catalog", str(small_catalog), "--no-embed"], env=env)
        assert result.exit_code == 0, result.output
        outputs.append(result.stderr)
        assert not any(cwd.iterdir())  # nothing written to the working directory
    assert (tmp_path / "data" / "es-ltrr" / "manifest.json").exists()
    assert "indexing" in outputs[0] and "indexing" not in outputs[1]  # the second search reused the index


def test_catalog_slice_makes_a_small_catalog_that_answers_like_the_whole_one(tmp_path):
    """The documented small catalog (issue 23, item 11): on the first 2,000 rows "90s rock"
    returned Haddaway; on a 2,000-row slice it returns rock of the 1990s."""
    runner = CliRunner()
    out = tmp_path / "small.csv.gz"
    sliced = runner.invoke(main, ["catalog", "slice", "--rows", "2000", "--seed", "1", str(out)])
    assert sliced.exit_code == 0, sliced.output
    assert "2,000 rows" in sliced.stdout and "rock" in sliced.stdout
    base = ["--catalog", str(out), "--data-dir", str(tmp_path / "d"), "--no-embed"]
    assert runner.invoke(main, [*base, "index"]).exit_code == 0
    result = runner.invoke(main, [*base, "search", "90s rock", "--k", "5", "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert hits, result.stdout
    rock_of_the_90s = [h for h in hits if "rock" in h.get("genres", []) and 1990 <= (h.get("release_year") or 0) < 2000]
    assert len(rock_of_the_90s) >= 3, [(h["name"], h.get("genres"), h.get("release_year")) for h in hits]


def _snapshot(root):
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def test_render_writes_nothing_into_the_data_dir(small_catalog, tmp_path):
    """`render` prints a body; it indexed the catalog into a data dir without an embedded
    index and rewrote its manifest and gazetteer — a dir a `serve --cluster` was using (issue
    23, item 6). Now it reads the dir's query-understanding tables, or builds them in memory."""
    runner = CliRunner()
    data = tmp_path / "d"
    base = ["--catalog", str(small_catalog), "--data-dir", str(data), "--no-embed"]
    assert runner.invoke(main, [*base, "index"]).exit_code == 0
    import shutil

    shutil.rmtree(data / "index")  # what `--cluster URL index` leaves: manifest, gazetteer, stats
    before = _snapshot(data)
    result = runner.invoke(main, [*base, "render", "lexical", "memories maroon 5"])
    assert result.exit_code == 0, result.output
    assert "memories maroon 5" in result.stdout
    assert _snapshot(data) == before

    empty = tmp_path / "empty"
    result = runner.invoke(main, ["--catalog", str(small_catalog), "--data-dir", str(empty), "--no-embed",
                                  "render", "structured", "maroon 5"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) and not empty.exists()


@pytest.mark.parametrize("url, message", [
    ("127.0.0.1:9310", "error: --cluster 127.0.0.1:9310 has no scheme: use http://127.0.0.1:9310 (or https://"),
    ("localhost:9200", "error: --cluster localhost:9200 has no scheme: use http://localhost:9200"),
    ("ftp://127.0.0.1:9200", "error: --cluster ftp://127.0.0.1:9200: the scheme must be http or https"),
])
def test_a_cluster_url_without_a_scheme_is_named(small_catalog, tmp_path, url, message):
    """It said "No connection adapters were found" (issue 23, item 9)."""
    for command in (["index"], ["search", "love"], ["apply", "--dry-run"]):
        result = CliRunner().invoke(main, ["--cluster", url, "--catalog", str(small_catalog), "--data-dir",
                                           str(tmp_path / "d"), "--no-embed", *command])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(message), result.stderr


def test_an_unreachable_cluster_is_noticed_before_the_catalog_is_read(small_catalog, tmp_path):
    """A wrong --cluster URL was noticed only after the catalog was loaded and embedded (issue
    23, item 9); with --flavor given, nothing contacted the cluster before the bulk requests."""
    from ..servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    for flavor in ([], ["--flavor", "opensearch"]):
        result = CliRunner().invoke(main, ["--cluster", url, *flavor, "--catalog", str(small_catalog),
                                           "--data-dir", str(tmp_path / "d"), "--no-embed", "index"])
        assert result.exit_code == 2, result.output
        assert url in result.stderr and "loading catalog" not in result.stderr, result.stderr


def test_models_delete_and_prune_spare_what_serves_or_can_be_rolled_back_to(tmp_path):
    """Models piled up and nothing deleted one (issue 23, item 10)."""
    from es_ltrr.common.datadir import DataDir

    data = DataDir(tmp_path / "d")
    for name in ("m-old", "m-prev", "m-live", "m-loser", "m-challenger"):
        data.model_dir(name).mkdir(parents=True)
    data.activate_model("m-old")
    data.activate_model("m-prev")
    data.activate_model("m-live")  # HISTORY: fusion, m-old, m-prev
    (tmp_path / "es-ltrr.toml").write_text('challenger_model = "m-challenger"\n')
    runner = CliRunner()

    def models(*args):
        return runner.invoke(main, ["--data-dir", str(tmp_path / "d"), "--config", str(tmp_path / "es-ltrr.toml"),
                                    "models", *args])

    refused = models("--delete", "m-live")
    assert refused.exit_code == 2 and "m-live is the active model" in refused.stderr
    assert models("--delete", "m-challenger", "--force").exit_code == 2
    assert "--force" in models("--delete", "m-old").stderr
    pruned = models("--prune")
    assert pruned.exit_code == 0, pruned.output
    assert "deleted m-loser from the data dir" in pruned.stderr and "pass --cluster URL" in pruned.stderr
    assert data.model_names() == ["m-challenger", "m-live", "m-old", "m-prev"]
    assert models("--prune", "--force").exit_code == 0
    assert data.model_names() == ["m-challenger", "m-live"] and data.history() == []
    listed = models("--json")
    assert [m["name"] for m in json.loads(listed.stdout)["models"]] == ["m-challenger", "m-live"]
    assert models("--delete", "nope").exit_code == 2
