"""es-ltrr commands that measure: evaluate (systems side by side on judged queries) and ope
(off-policy estimates of a policy's value)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..common.console import say
from .group import Ctx, fail, main, searcher_for, settings_options

if TYPE_CHECKING:
    from ..common.settings import Settings
    from ..evaluation.ope_simulated import OpeConfig


@main.command()
@click.option("--judged", type=click.Choice(["hand", "simulated", "both"]), default="both", show_default=True,
              help="Judged query sets: the hand-labelled set shipped in the package, simulated users with "
              "held-out targets, or both (reported per set and pooled).")
@click.option("--queries", default=500, show_default=True, help="Simulated judged queries (held-out targets).")
@click.option("--seed", default=2, show_default=True, help="Seed of the simulated judged queries.")
@click.option("--json", "as_json", is_flag=True, help='Print {"systems": {name: {ndcg10, mrr, recall100, candidates, '
              'p50_ms, p99_ms, executed_by}}, "by_intent", "significance", "sets": {set: the same}, "fusion"}.')
@click.option("--plots", type=click.Path(file_okay=False, path_type=Path),
              help="Write nDCG@10-per-intent, recall-vs-candidates and latency PNGs per judged set here.")
@settings_options()
@click.pass_obj
def evaluate(obj: Ctx, judged: str, queries: int, seed: int, as_json: bool, plots: Path | None) -> None:
    """es-ltrr against what a user would run instead — bm25, hybrid (min-max + linear, as
    OpenSearch's normalization processor), rrf_all_arms (as Elasticsearch's rrf retriever),
    all_arms_ltr (the active model) — on the same judged queries: nDCG@10, MRR, recall@100
    of the candidates, candidates per query, latency, by intent, and paired t-tests. With
    --cluster every system runs on the node, and hybrid/rrf_all_arms as the node's own fusion
    where it has it (else the sidecar fuses the node's arm results; the report says which)."""
    from tqdm import tqdm

    from ..catalog import load_catalog
    from ..evaluation.cluster_fusion import probe
    from ..evaluation.judged import JudgedSetError
    from ..evaluation.plots import plots as write_plots
    from ..evaluation.report import evaluate as run
    from ..evaluation.report import judged_sets, tables
    from ..evaluation.systems import systems
    from ..retrieval.engines import EngineError

    settings = obj.settings()
    if judged != "hand" and queries < 2:
        fail("--queries must be at least 2")
    searcher = searcher_for(obj, settings)
    catalog = load_catalog(settings.catalog, progress=False)
    try:
        sets = judged_sets(catalog, judged, queries, seed, say)
    except JudgedSetError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(f"{exc} (--judged simulated)")
    fusion = probe(searcher.engine) if settings.cluster_url else None
    try:
        searcher.warm()  # the query model and lazy tables load now, not inside the first timed search
        system_list = systems(searcher, None if searcher.ranker.kind == "rrf" else searcher.ranker, fusion)
        document = run(system_list, sets, lambda name, n: tqdm(total=n, desc=f"{name:>13}", unit="query",
                                                                mininterval=2.0),
                       searcher.encoder.clear_cache if searcher.encoder else None)
    except EngineError as exc:
        fail(str(exc))
    finally:
        if fusion is not None:
            fusion.close()
    if plots:
        for path in write_plots(document, plots):
            say(f"wrote {path}")
    click.echo(json.dumps(document, indent=2) if as_json else tables(document))

@main.command()
@click.option("--from-log", "from_log", is_flag=True, help="Estimate the targets on the data dir's feedback log "
              "(logs/feedback.sqlite3) instead of simulating: estimates only, no on-policy truth.")
@click.option("--queries", default=4000, show_default=True, help="Searches the logging policy serves (the log).")
@click.option("--truth-queries", default=2000, show_default=True, help="Fresh users each target serves on-policy.")
@click.option("--learn-queries", default=1500, show_default=True, help="Users the learned targets learn on first.")
@click.option("--log-policy", type=click.Choice(["uniform", "epsilon_greedy", "thompson"]), default="uniform",
              show_default=True, help="The stochastic policy that serves the logged searches.")
@click.option("--log-candidates", default=60.0, show_default=True, help="Mean candidates of the uniform logger "
              "(and of ε-greedy's exploration).")
@click.option("--targets", default=None, help="Comma-separated targets. Simulated (default all): all_arms, "
              "best_single, thompson, thompson_greedy, uniform. --from-log (default static,<settings policy>): "
              "static, thompson, ucb, epsilon_greedy, uniform, each resumed from the data dir's saved state.")
@click.option("--engagement", type=click.Choice(["clicks", "relevant"]), default="clicks", show_default=True,
              help="Simulated: the click model on the served page (as a real log), or the users' relevant "
                   "entities (page-independent).")
@click.option("--rule", "rules", type=click.Choice(["prefix", "depth", "both"]), default="both", show_default=True,
              help="Cells a logged search observes: depths ≤ the logged one (prefix), or only it (depth).")
@click.option("--clip", type=float, default=None, help="Cap on every importance weight (default: none).")
@click.option("--seed", default=1, show_default=True, help="Seed of the users, their clicks and the policies.")
@click.option("--cost", default=0.004, show_default=True, help="Cost per candidate of the learned policies.")
@click.option("--budget", default=100, show_default=True, help="Candidates per query a policy may request.")
@click.option("--burn-in", default=300, show_default=True, help="Queries a learning policy serves statically first.")
@click.option("--json", "as_json", is_flag=True, help='Print the report as JSON: {"targets": {name: {"truth", '
              '"rules": {rule: {"estimates": {dm|ips|snips|dr: {value, se}}, "relative_error", "z", "ess", '
              '"max_weight", "unsupported"}}, "truth_logged_users"}}, ...}; with --from-log {"searches", "logged_value", '
              '"targets": {name: {"rules": {rule: {"estimates", "ess", "max_weight", "unsupported"}}}}}.')
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JSON report here.")
@settings_options()
@click.pass_obj
def ope(obj: Ctx, from_log: bool, queries: int, truth_queries: int, learn_queries: int, log_policy: str,
        log_candidates: float, targets: str | None, engagement: str, rules: str, clip: float | None, seed: int,
        cost: float, budget: int, burn_in: int, as_json: bool, out: Path | None) -> None:
    """Off-policy evaluation: IPS, SNIPS, DR and the direct method estimate what a target
    policy would earn (the bandit's per-arm, per-depth reward) from searches another policy
    served. Simulated (default): a stochastic logger serves simulated users, every target is
    estimated from that log and then served on-policy to fresh users; the table gives each
    estimate's relative error against that truth. With --from-log: the estimates on the
    data dir's real feedback log."""
    if clip is not None and not 0 < clip < float("inf"):
        fail("--clip must be a positive number")
    chosen = ("prefix", "depth") if rules == "both" else (rules,)
    names = tuple(t.strip() for t in targets.split(",") if t.strip()) if targets else None
    settings = obj.settings()
    if from_log:
        report, text = _ope_from_log(settings, names, chosen, clip, seed)
    else:
        from ..evaluation.ope_simulated import TARGETS, OpeConfig

        config = OpeConfig(queries, truth_queries, learn_queries, log_policy, log_candidates, names or TARGETS,
                           engagement=engagement, rules=chosen, clip=clip, seed=seed, cost=cost, budget=budget,
                           burn_in=burn_in)
        report, text = _ope_simulated(obj, settings, config)
    document = json.dumps(report, indent=2)
    if out:
        out.write_text(document + "\n")
    click.echo(document if as_json else text)


def _ope_simulated(obj: Ctx, settings: Settings, config: OpeConfig) -> tuple[dict[str, Any], str]:
    """The simulator's check: (JSON report, table)."""
    from ..catalog import load_catalog
    from ..evaluation.ope_simulated import run_ope, table

    if settings.cluster_url:
        fail("ope simulates on the embedded engine (drop --cluster, or use --from-log)")
    try:
        config.check()
        report = run_ope(searcher_for(obj, settings), load_catalog(settings.catalog), config, say)
    except ValueError as exc:
        fail(str(exc))
    return report.to_json(), table(report)


def _ope_from_log(settings: Settings, names: tuple[str, ...] | None, rules: tuple[str, ...], clip: float | None,
                  seed: int) -> tuple[dict[str, Any], str]:
    """Estimates on the data dir's feedback log: (JSON report, tables per rule)."""
    from ..common.datadir import DataDir
    from ..evaluation.ope_logged import estimate_log, estimates_table, log_batch
    from ..feedback.store import FeedbackStore, StoreError
    from ..retrieval.policy import DEFAULT_DEPTHS
    from ..serving.wiring import make_policy

    data = DataDir(settings.data_dir)
    log = data.feedback_log
    if not log.is_file():
        fail(f"no feedback log at {log}: serve searches (es-ltrr serve) first")
    try:
        targets = {}
        for name in names or dict.fromkeys(("static", settings.policy)):
            policy = make_policy(name, settings.policy_options if name == settings.policy else {}, settings.allocation,
                                 seed=seed)
            state = data.policy_state(name)
            if state is not None:
                policy.load_state(state)
            elif name not in ("static", "uniform"):  # static learns nothing; uniform only what depths add
                say(f"{name}: no saved state in the data dir; estimating the policy as it starts")
            targets[name] = policy
        serving = targets.get(settings.policy)
        depths, floors = getattr(serving, "depths", DEFAULT_DEPTHS), getattr(serving, "floors", None)
        batch = log_batch(FeedbackStore(log), depths, floors)
        results = estimate_log(batch, targets, rules, clip, seed)
    except (StoreError, ValueError, KeyError) as exc:
        fail(str(exc))
    logged = float(batch.logged_value().mean())
    document = {"searches": len(batch), "logged_value": round(logged, 5),
                "targets": {name: {"rules": {rule: results[rule][name].to_json() for rule in rules}}
                            for name in targets}}
    text = "\n\n".join(f"rule {rule}: " + estimates_table(results[rule], logged, len(batch)) for rule in rules)
    return document, text
