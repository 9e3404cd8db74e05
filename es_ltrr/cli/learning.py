"""es-ltrr commands that learn and measure: simulate, replay, train, models, evaluate, ope."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import Ctx, fail, main, say, searcher_for, settings_options

if TYPE_CHECKING:
    from ..config import Settings
    from ..simulation.ope import OpeConfig


@main.command()
@click.option("--queries", default=5000, show_default=True, help="Learning queries (the policies learn on them in order).")
@click.option("--report-queries", default=1000, show_default=True, help="Held-out queries the table is measured on.")
@click.option("--seed", default=1, show_default=True, help="Seed of the users, their clicks and the policies.")
@click.option("--policies", default=",".join(("all_arms", "best_single", "uniform", "epsilon_greedy", "ucb", "thompson", "oracle")),
              show_default=True, help="Comma-separated policies to compare.")
@click.option("--cost", default=0.004, show_default=True, help="Objective cost per candidate requested.")
@click.option("--budget", default=100, show_default=True, help="Candidates per query a learning policy may request.")
@click.option("--burn-in", default=300, show_default=True, help="Queries a learning policy serves statically first.")
@click.option("--json", "as_json", is_flag=True, help='Print {"policies": {name: {recall, mrr, ndcg10, candidates, regret, ...}}}.')
@click.option("--plots", type=click.Path(file_okay=False, path_type=Path), help="Write regret, learning and recall-vs-candidates PNGs here.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the --json document to this file.")
@click.option("--http", "http_url", metavar="URL", help="Simulate through a running `es-ltrr serve` (POST /search and "
              "/feedback): its policy learns from the users' clicks; compared with the oracle.")
@click.option("--save-policy", is_flag=True, help="Save the learned Thompson state to the data dir (serving then uses it).")
@settings_options()
@click.pass_obj
def simulate(obj: Ctx, queries: int, report_queries: int, seed: int, policies: str, cost: float, budget: int,
             burn_in: int, as_json: bool, plots: Path | None, out: Path | None, http_url: str | None,
             save_policy: bool) -> None:
    """Simulated users on the shipped catalog (embedded engine): every policy learns from their
    clicks on the same query stream, then is measured on users with held-out targets."""
    from ..catalog import load_catalog
    from ..datadir import DataDir
    from ..simulation.experiment import SimulationConfig, simulate as run
    from ..simulation.http import HttpError
    from ..simulation.report import plots as write_plots, table

    names = tuple(p.strip() for p in policies.split(",") if p.strip())
    if queries < 1 or report_queries < 1:
        fail("--queries and --report-queries must be at least 1")
    settings = obj.settings()
    if settings.cluster_url:
        fail("simulate runs on the embedded engine (drop --cluster)")
    searcher = searcher_for(obj, settings)
    if http_url:
        names = ("oracle",) if "oracle" in names else ()
    config = SimulationConfig(queries, report_queries, seed, names, cost, budget, burn_in, http=http_url)
    try:
        result = run(searcher, load_catalog(settings.catalog), config, say)
    except (ValueError, HttpError) as exc:
        fail(str(exc))
    if plots:
        for path in write_plots(result, plots):
            say(f"wrote {path}")
    if save_policy and "thompson" in result.learned:
        path = DataDir(settings.data_dir).save_policy_state(result.learned["thompson"].state())
        say(f"saved the learned thompson state to {path}")
    document = json.dumps(result.to_json(), indent=2)
    if out:
        out.write_text(document + "\n")
    click.echo(document if as_json else table(result))


@main.command()
@click.option("--json", "as_json", is_flag=True,
              help='Print {"impressions": N, "events": M, "duplicates_ignored": D, "state_equal": true|false}.')
@click.option("--save", is_flag=True, help="Save the replayed state (the whole log folded) as the policy's state.")
@settings_options()
@click.pass_obj
def replay(obj: Ctx, as_json: bool, save: bool) -> None:
    """Rebuild the policy's state from the feedback log and compare it with the saved state.

    A fresh policy folds the logged events in log order up to the saved state's log position;
    `state_equal` says whether its learned state equals the saved one (the RNG, which searches
    advance, is not part of the comparison)."""
    from ..app import make_policy
    from ..datadir import DataDir
    from ..feedback.loop import replay as fold_log
    from ..feedback.store import FILENAME, FeedbackStore, StoreError

    settings = obj.settings()
    data = DataDir(settings.data_dir)
    try:
        store = FeedbackStore(data.logs_dir / FILENAME)
        fresh = make_policy(settings.policy, settings.policy_options, settings.allocation)
        saved = data.policy_state(fresh.name)
        until = int(saved.get("log_seq", 0)) if saved else 0
        loop = fold_log(store, fresh, until, int(saved.get("log_from", 0)) if saved else 0)
        equal = (saved or {}).get("learned", fresh.state()["learned"]) == fresh.state()["learned"]
        if save:
            loop.fold()
            path = data.save_policy_state({**fresh.state(), "log_seq": loop.log_seq})
            say(f"saved the replayed {fresh.name} state (log position {loop.log_seq}) to {path}")
        counts = store.counts()
    except (StoreError, ValueError) as exc:
        fail(str(exc))
    report = {**counts, "state_equal": equal}
    click.echo(json.dumps(report) if as_json else "\n".join(f"{k}: {v}" for k, v in report.items()))


@main.command()
@click.option("--json", "as_json", is_flag=True, help='Print {"model", "active_model", "ndcg10_none", "ndcg10_current", '
              '"ndcg10_new", "mrr_*", ...}.')
@click.option("--judgments", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Judgments in the RankLib format ('grade qid:N # docid', '# qid:N: query') instead of the log.")
@click.option("--source", type=click.Choice(["log", "ubi"]), default="log", show_default=True,
              help="Sessions from the data dir's feedback log, or from the cluster's UBI indices (--cluster).")
@click.option("--min-showings", default=1, show_default=True, help="Showings of a (query, entity) before it is judged.")
@click.option("--searches", default=3000, show_default=True, help="Simulated searches generated when the log is empty.")
@click.option("--margin", default=0.0, show_default=True, help="nDCG@10 the new model must gain to be activated.")
@click.option("--no-activate", "activate", flag_value=False, default=True, help="Train and report only.")
@click.option("--rollback", is_flag=True, help="Return to the model active before the last activation, and stop.")
@click.option("--seed", default=1, show_default=True)
@settings_options()
@click.pass_obj
def train(obj: Ctx, as_json: bool, judgments: Path | None, source: str, min_showings: int, searches: int,
          margin: float, activate: bool, rollback: bool, seed: int) -> None:
    """Retrain the ranker from feedback: PBM click-model judgments from the log (or a judgments
    file) → features of every judged query's candidates → XGBoost rank:ndcg → held-out
    nDCG@10/MRR against fusion and the active model → activate if better. With --cluster the
    features are logged with the LTR plugin's ltr_log and the model is uploaded there with a
    parity check (searches then rescore with sltr). With no feedback logged yet, the
    simulator's users generate some first (and it says so)."""
    from ..datadir import DataDir, DataDirError
    from ..retrain import TrainOptions, run_training

    settings = obj.settings()
    if rollback:
        try:
            previous = DataDir(settings.data_dir).rollback_model()
        except DataDirError as exc:
            fail(str(exc))
        say(f"active model: {previous or 'none (fusion)'}")
        return
    searcher = searcher_for(obj, settings)
    from ..engines import EngineError
    from ..ltr.upload import UploadError

    try:
        options = TrainOptions(judgments, source, min_showings, searches, margin, activate, seed)
        report = run_training(settings, searcher, options, say)
    except (ValueError, UploadError, EngineError) as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        rows = [("none (fusion)", report["ndcg10_none"], report["mrr_none"]),
                ("current", report["ndcg10_current"], report["mrr_current"]), ("new", report["ndcg10_new"], report["mrr_new"])]
        click.echo(f"held-out queries: {report['test_queries']}")
        for name, ndcg, mrr in rows:
            if ndcg is not None:
                click.echo(f"  {name:14} nDCG@10 {ndcg:.4f}   MRR {mrr:.4f}")
        click.echo(f"active model: {report['active_model'] or 'none (fusion)'}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help='Print {"active": name, "models": [...], "interleaving": [...]}.')
@click.option("--promote", metavar="NAME", help="Activate model NAME (searches rank with it from the next start).")
@click.option("--require-win", is_flag=True, help="With --promote: only if NAME won its interleaving test "
              "(the 95 % interval of its win rate above 0.5).")
@settings_options()
@click.pass_obj
def models(obj: Ctx, as_json: bool, promote: str | None, require_win: bool) -> None:
    """The data dir's models (active one marked, held-out metrics) and the interleaving results
    of each challenger from the feedback log: wins, losses, ties, win rate with its 95 %
    Wilson interval (challenger_model + interleave_share in the settings run the test)."""
    from ..datadir import DataDir, DataDirError
    from ..feedback.interleaving import outcomes
    from ..feedback.store import FILENAME, FeedbackStore, StoreError

    data = DataDir(obj.settings().data_dir)
    if promote:
        _promote(data, promote, require_win)
    try:
        active = data.active_model()
        rows = []
        root = data.model_dir("x").parent
        for directory in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []:
            metrics_file = directory / "metrics.json"
            metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
            new = (metrics.get("metrics") or {}).get("new", {})
            rows.append({"name": directory.name, "active": bool(active and directory.name == active.name),
                         "ndcg10": new.get("ndcg10"), "mrr": new.get("mrr"),
                         "parity_max_abs_diff": metrics.get("parity_max_abs_diff")})
        log = data.logs_dir / FILENAME
        results = [o.to_dict() for o in outcomes(FeedbackStore(log))] if log.is_file() else []
    except (DataDirError, StoreError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps({"active": active.name if active else None, "models": rows, "interleaving": results},
                              indent=2))
        return
    click.echo(f"active: {active.name if active else 'none (fusion)'}")
    for row in rows:
        ndcg = f"{row['ndcg10']:.4f}" if row["ndcg10"] is not None else "-"
        click.echo(f"  {'*' if row['active'] else ' '} {row['name']:48} held-out nDCG@10 {ndcg}")
    for r in results:
        rate = f"{r['win_rate']:.3f}" if r["win_rate"] is not None else "-"
        click.echo(f"interleaving {r['challenger']}: {r['wins']} wins, {r['losses']} losses, {r['ties']} ties "
                   f"(win rate {rate}, 95 % {r['win_rate_95'][0]:.3f}–{r['win_rate_95'][1]:.3f})")


def _promote(data, name: str, require_win: bool) -> None:
    """Activate `name`; with `require_win`, only after an interleaving win of a challenger of that name."""
    from ..datadir import DataDirError
    from ..feedback.interleaving import outcomes
    from ..feedback.store import FILENAME, FeedbackStore

    if require_win:
        log = data.logs_dir / FILENAME
        results = {o.challenger: o for o in outcomes(FeedbackStore(log))} if log.is_file() else {}
        result = next((o for label, o in results.items() if label == name or label.endswith(f":{name}")), None)
        if result is None:
            fail(f"{name} has no interleaving results yet: set challenger_model = {name!r} and interleave_share")
        low, high = result.interval
        if low <= 0.5:
            fail(f"{name} has not won its interleaving test: {result.wins} wins, {result.losses} losses "
                 f"(95 % interval of its win rate {low:.3f}-{high:.3f}, needs to be above 0.5)")
    try:
        data.activate_model(name)
    except (DataDirError, ValueError) as exc:  # ValueError: a name that is not a model name ("../x")
        fail(str(exc))
    say(f"activated {name}")


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
    from ..engines import EngineError
    from ..evaluate import evaluate as run, probe, systems, tables
    from ..evaluate.plots import plots as write_plots
    from ..evaluation.judged import JudgedSetError, load_judged, on_catalog
    from ..simulation.users import QueryGenerator

    settings = obj.settings()
    if judged != "hand" and queries < 2:
        fail("--queries must be at least 2")
    searcher = searcher_for(obj, settings)
    catalog = load_catalog(settings.catalog, progress=False)
    sets = {}
    if judged in ("hand", "both"):
        try:
            hand = load_judged()
        except JudgedSetError as exc:
            fail(str(exc))
        sets["hand"] = on_catalog(hand, {d["id"] for d in catalog})
        say(f"hand set: {len(sets['hand'])} of {len(hand)} queries judge entities of this catalog")
        if len(sets["hand"]) < 2:
            fail("fewer than 2 hand-labelled queries judge entities of this catalog: use --judged simulated")
    if judged in ("simulated", "both"):
        sets["simulated"] = QueryGenerator(catalog, seed=seed).generate(queries, holdout=True, seed=seed)
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
        from ..simulation.ope import TARGETS, OpeConfig

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
    from ..simulation.ope import run_ope, table

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
    from ..app import make_policy
    from ..datadir import DataDir
    from ..feedback.ope import estimate_log, estimates_table, log_batch
    from ..feedback.store import FILENAME, FeedbackStore, StoreError
    from ..policy import DEFAULT_DEPTHS

    data = DataDir(settings.data_dir)
    log = data.logs_dir / FILENAME
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
            elif name not in ("static", "uniform"):  # the two that learn nothing
                say(f"{name}: no saved state in the data dir; estimating the policy as it starts")
            targets[name] = policy
        depths = getattr(targets.get(settings.policy), "depths", DEFAULT_DEPTHS)
        batch = log_batch(FeedbackStore(log), depths)
        results = estimate_log(batch, targets, rules, clip, seed)
    except (StoreError, ValueError, KeyError) as exc:
        fail(str(exc))
    logged = float(batch.logged_value().mean())
    document = {"searches": len(batch), "logged_value": round(logged, 5),
                "targets": {name: {"rules": {rule: results[rule][name].to_json() for rule in rules}}
                            for name in targets}}
    text = "\n\n".join(f"rule {rule}: " + estimates_table(results[rule], logged, len(batch)) for rule in rules)
    return document, text
