"""Off-policy evaluation end to end on the small real-data index: the simulator's check (log
with a stochastic policy, estimate, serve each target on-policy) runs and its estimates of
the static allocation land near the truth; `es-ltrr ope` prints its JSON contract; `--from-log`
estimates from a real feedback log written by served searches and their clicks."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from click.testing import CliRunner

from es_ltrr.catalog import load_catalog
from es_ltrr.cli import main
from es_ltrr.common.datadir import DataDir
from es_ltrr.common.settings import Settings
from es_ltrr.evaluation.ope_simulated import OpeConfig, run_ope, table
from es_ltrr.evaluation.simulation.traffic import generate_traffic
from es_ltrr.feedback import FeedbackLoop
from es_ltrr.feedback.store import FeedbackStore
from es_ltrr.retrieval.arms import ARMS
from es_ltrr.retrieval.policy import UniformPolicy


@pytest.fixture(scope="module")
def entities(small_catalog):
    return load_catalog(small_catalog, progress=False)


@pytest.fixture(scope="module")
def report(small_searcher, entities):
    config = OpeConfig(queries=500, truth_queries=500, learn_queries=200, targets=("all_arms", "thompson"),
                       engagement="relevant", burn_in=50, progress=False, log_candidates=20)
    return run_ope(small_searcher, entities, config, say=lambda _: None)


def test_every_estimate_and_error_is_finite(report):
    assert set(report.targets) == {"all_arms", "thompson"}
    for target in report.targets.values():
        assert target.truth > 0 and set(target.ope) == {"prefix", "depth"}
        for rule, result in target.ope.items():
            assert set(result.estimates) == {"dm", "ips", "snips", "dr"}
            for est in result.estimates:
                assert math.isfinite(target.relative_error(est, rule)), (target.label, rule, est)
            assert 0 < result.ess <= result.n == 500
    assert "all_arms" in table(report)


def test_with_a_uniform_logger_snips_and_dr_find_the_static_allocations_value(report):
    """Logged by random depths beyond the floors (200 added candidates on average), the
    all-arms allocation is rarely served as a whole; its per-arm value — the page gain its
    depths find beyond the floors — is still recovered within the estimators' and the
    truth's own errors (a gain sums several engaged entities: its spread is wide, so 500
    searches leave ~10 % of noise). Ignoring the weights (the log's own value) is ~45 % off."""
    target = report.targets["all_arms"]
    assert report.logged_value < 0.75 * target.truth
    for rule in ("prefix", "depth"):
        for est in ("snips", "dr"):
            assert abs(target.relative_error(est, rule)) < 0.25, (rule, est, target.to_json())
            assert abs(target.z(est, rule)) < 3, (rule, est, target.to_json())


def test_bad_config_is_a_clear_error(small_searcher, entities):
    with pytest.raises(ValueError, match="unknown targets: nope"):
        run_ope(small_searcher, entities, OpeConfig(targets=("nope",)), say=lambda _: None)
    with pytest.raises(ValueError, match="log policy"):
        run_ope(small_searcher, entities, OpeConfig(log_policy="static"), say=lambda _: None)


def test_cli_ope_prints_the_json_contract(cli):
    out = cli("ope", "--queries", "40", "--truth-queries", "30", "--learn-queries", "20", "--burn-in", "5",
              "--targets", "all_arms,best_single,uniform", "--rule", "prefix", "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["queries"] == 40 and doc["log_policy"] == "uniform"
    assert set(doc["targets"]) == {"all_arms", "best_single", "uniform"}
    # the page gain beyond the floors: 30 small-catalog users may leave none to find, never a negative
    assert doc["targets"]["all_arms"]["truth"] >= 0 and doc["targets"]["all_arms"]["truth_logged_users"] >= 0
    rule = doc["targets"]["all_arms"]["rules"]["prefix"]
    assert set(rule["estimates"]) == set(rule["relative_error"]) == {"dm", "ips", "snips", "dr"}
    assert {"ess", "max_weight", "unsupported", "z", "relative_error_logged_users"} <= set(rule)
    for bad in (["--targets", "nope"], ["--queries", "0"], ["--clip", "nan"], ["--clip", "0"], ["--cost", "nan"],
                ["--log-candidates", "-1"], ["--budget", "-1"]):
        refused = cli("ope", *bad, "--queries", "5") if "--queries" not in bad else cli("ope", *bad)
        assert refused.exit_code == 2 and "error:" in refused.output, (bad, refused.output)


def test_cli_ope_from_a_real_feedback_log(small_catalog, entities, tmp_path):
    """Searches served by a uniform policy, logged with their clicks: the uniform policy as its
    own target gets weights near 1 (ESS near the log size) and SNIPS near the log's own value."""
    from es_ltrr.serving.wiring import build_searcher

    runner = CliRunner()
    # its own searcher: the session's shared one carries the click memory other tests taught it,
    # so what each depth adds drifts while the log is written (ESS 87 of 150 in a full run)
    settings = Settings.load(env={}, catalog=small_catalog, data_dir=tmp_path / "s", embed=False)
    searcher = build_searcher(settings, say=lambda _: None)
    # floors of 2: on a catalog slice of 1,000 entities every relevant one sits in some arm's
    # top 10, and a policy's depth would have nothing left to find
    config = tmp_path / "policy.toml"
    config.write_text("policy = \"uniform\"\n[policy_options]\nfloors = {" + ", ".join(f"{a} = 2" for a in ARMS) + "}\n")
    base = ["--catalog", str(small_catalog), "--data-dir", str(tmp_path / "d"), "--no-embed", "--config", str(config)]
    missing = runner.invoke(main, [*base, "ope", "--from-log"])
    assert missing.exit_code == 2 and "no feedback log" in missing.output
    policy = UniformPolicy(seed=5, floors={a: 2 for a in ARMS})
    # it measures what each depth adds as it serves: measured first, so the log is served by
    # (nearly) the policy the target resumes, not by its first guesses
    warm = FeedbackLoop(FeedbackStore(tmp_path / "warm.sqlite3"), policy)
    generate_traffic(replace(searcher, policy=policy), warm, entities, 150, progress=False)
    loop = FeedbackLoop(FeedbackStore(tmp_path / "d" / "logs" / "feedback.sqlite3"), policy)
    generate_traffic(replace(searcher, policy=policy), loop, entities, 150, progress=False)
    # as serve leaves it: the state with the added candidates it measured, which the target resumes
    DataDir(tmp_path / "d").save_policy_state(policy.state())
    out = runner.invoke(main, [*base, "ope", "--from-log", "--targets", "static,uniform", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["searches"] == 150 and doc["logged_value"] > 0
    own = doc["targets"]["uniform"]["rules"]["depth"]
    assert own["ess"] > 0.6 * 150
    assert own["estimates"]["snips"]["value"] == pytest.approx(doc["logged_value"], abs=3 * own["estimates"]["snips"]["se"])
    static = doc["targets"]["static"]["rules"]["prefix"]["estimates"]
    assert set(static) == {"dm", "ips", "snips", "dr"} and all(math.isfinite(e["value"]) for e in static.values())
