"""es-ltrr commands that learn: simulate, replay, train, models (the measuring ones are in
`evaluating.py`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..common.console import say
from .group import Ctx, fail, main, searcher_for, settings_options


@main.command()
@click.option("--queries", default=5000, show_default=True, help="Learning queries (the policies learn on them in order).")
@click.option("--report-queries", default=1000, show_default=True, help="Held-out queries the table is measured on.")
@click.option("--seed", default=1, show_default=True, help="Seed of the users, their clicks and the policies.")
@click.option("--policies", default=None, help="Comma-separated policies to compare (default: all of them — the "
              "references all_arms, best_single and oracle, and every learning policy).")
@click.option("--cost", default=0.004, show_default=True, help="Objective cost per candidate requested.")
@click.option("--budget", default=100, show_default=True, help="Candidates per query a learning policy may request.")
@click.option("--burn-in", default=300, show_default=True, help="Queries a learning policy serves statically first.")
@click.option("--json", "as_json", is_flag=True, help='Print {"policies": {name: {recall, mrr, ndcg10, candidates, regret, ...}}}.')
@click.option("--plots", type=click.Path(file_okay=False, path_type=Path), help="Write regret, learning and recall-vs-candidates PNGs here.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the --json document to this file.")
@click.option("--http", "http_url", metavar="URL", help="Simulate through a running `es-ltrr serve` (POST /search and "
              "/feedback): its policy learns from the users' clicks; compared with the oracle.")
@click.option("--save-policy", is_flag=True, help="Save the learned Thompson state to the data dir (serving then uses it).")
@click.option("--reformulations", is_flag=True, help="Instead: users who reformulate (the shipped nickname set, "
              "docs/feedback.md) in --rounds rounds of --users users per query; prints the rank-1 curve.")
@click.option("--rounds", default=12, show_default=True, help="--reformulations: rounds of users.")
@click.option("--users", default=3, show_default=True, help="--reformulations: new users per query and round.")
@click.option("--settle", default=3.0, show_default=True,
              help="--reformulations --http: seconds to wait after a round (more than the server's --memory-interval).")
@click.option("--spam", "spam_query", default=None, metavar="QUERY",
              help="--reformulations: one client also posts ~1,000 plays of QUERY's 10th hit; its top 3 is compared.")
@click.option("--no-sessions", is_flag=True, help="--reformulations --http: send no client_id/session_id on "
              "searches (an es-ltrr before sessions); events keep client_id.")
@click.option("--label", default=None, help="--reformulations: the run's name in the table and plot.")
@click.option("--slice", "slice_", default=None, type=click.IntRange(1), help="--reformulations: the first N queries only.")
@settings_options()
@click.pass_obj
def simulate(obj: Ctx, queries: int, report_queries: int, seed: int, policies: str | None, cost: float, budget: int,
             burn_in: int, as_json: bool, plots: Path | None, out: Path | None, http_url: str | None,
             save_policy: bool, reformulations: bool, rounds: int, users: int, settle: float,
             spam_query: str | None, no_sessions: bool, label: str | None, slice_: int | None) -> None:
    """Simulated users on the shipped catalog (embedded engine): every policy learns from their
    clicks on the same query stream, then is measured on users with held-out targets.

    With --reformulations: users who type a nickname, abbreviation or vague reference and,
    when they do not find their target, reformulate in the same session with the canonical
    wording — the Q2E memory's loop, in process or through a server (--http)."""
    if reformulations:
        _simulate_reformulations(obj, http_url, rounds, users, seed, settle, spam_query, no_sessions,
                                 label, as_json, plots, out, slice_)
        return
    from ..catalog import load_catalog
    from ..common.datadir import DataDir
    from ..evaluation.simulation.experiment import POLICY_NAMES, SimulationConfig
    from ..evaluation.simulation.experiment import simulate as run
    from ..evaluation.simulation.http import HttpError
    from ..evaluation.simulation.report import plots as write_plots
    from ..evaluation.simulation.report import table

    names = tuple(p.strip() for p in policies.split(",") if p.strip()) if policies else POLICY_NAMES
    if queries < 1 or report_queries < 1:
        fail("--queries and --report-queries must be at least 1")
    settings = obj.settings()
    if settings.cluster_url:
        fail("simulate runs on the embedded engine (drop --cluster)")
    searcher = searcher_for(obj, settings)
    if http_url:  # the server's policy, beside the static allocation and the oracle run here
        names = tuple(n for n in ("all_arms", "oracle") if n in names)
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


def _simulate_reformulations(obj: Ctx, http_url: str | None, rounds: int, users: int, seed: int, settle: float,
                             spam_query: str | None, no_sessions: bool, label: str | None, as_json: bool,
                             plots: Path | None, out: Path | None, slice_: int | None = None) -> None:
    import copy
    import tempfile
    from dataclasses import replace

    from ..evaluation.judged import load_reformulations
    from ..evaluation.simulation import sessions
    from ..evaluation.simulation.http import HttpError

    tasks = load_reformulations()[:slice_]
    if rounds < 0 or users < 1:
        fail("--rounds must be at least 0 and --users at least 1")
    if http_url:
        backend: sessions.Backend = sessions.HttpBackend(http_url, sessions=not no_sessions, settle_s=settle)
        name = label or f"over HTTP{' (no sessions)' if no_sessions else ''}"
    else:
        from ..feedback import FeedbackLoop, FeedbackStore, Q2EMemory
        from ..retrieval.policy import StaticPolicy

        settings = obj.settings()
        if settings.cluster_url:
            fail("--reformulations in process runs on the embedded engine (drop --cluster, or use --http)")
        base = searcher_for(obj, settings)
        searcher = replace(base, engine=copy.copy(base.engine), policy=StaticPolicy())  # the data dir is untouched
        store = FeedbackStore(Path(tempfile.mkdtemp(prefix="es-ltrr-reform-")) / "feedback.sqlite3")
        backend = sessions.LocalBackend(searcher, FeedbackLoop(store, searcher.policy,
                                                               memory=Q2EMemory(searcher.engine, store)))
        name = label or "in process"
    try:
        spam = None
        if spam_query:
            page = backend.search(spam_query)[1]
            if len(page) < 10:
                fail(f"--spam {spam_query!r}: the page has fewer than 10 hits")
            spam = sessions.Spam(spam_query, page[9][0])
        result = sessions.run_rounds(backend, tasks, rounds, users, seed, name, spam, say=say)
    except HttpError as exc:
        fail(str(exc))
    if plots:
        say(f"wrote {sessions.curve_plot([result], plots / 'reformulations.png')}")
    document = json.dumps(result.to_json(), indent=2)
    if out:
        out.write_text(document + "\n")
    click.echo(document if as_json else sessions.table([result]))


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
    advance, is not part of the comparison). With --save, the state of the whole log is saved
    with the guard's verdict decided from the log (a policy folded from every search but the
    last 500, against the static allocation on those)."""
    from ..common.datadir import DataDir
    from ..feedback.loop import judge_log
    from ..feedback.loop import replay as fold_log
    from ..feedback.store import FeedbackStore, StoreError
    from ..serving.wiring import make_policy

    settings = obj.settings()
    data = DataDir(settings.data_dir)
    try:
        store = FeedbackStore(data.feedback_log)
        fresh = make_policy(settings.policy, settings.policy_options, settings.allocation)
        saved = data.policy_state(fresh.name)
        until = int(saved.get("log_seq", 0)) if saved else 0
        loop = fold_log(store, fresh, until, int(saved.get("log_from", 0)) if saved else 0)
        equal = (saved or {}).get("learned", fresh.state()["learned"]) == fresh.state()["learned"]
        if save:
            loop.fold()
            guard = {}
            if hasattr(fresh, "trusted_"):
                held_out = make_policy(settings.policy, settings.policy_options, settings.allocation)
                verdict = judge_log(store, held_out, settings.guard_tolerance)
                guard = {"guard": verdict.to_dict()}
                say(f"policy guard: {verdict.reason}")
            path = data.save_policy_state({**fresh.state(), "log_seq": loop.log_seq, **guard})
            say(f"saved the replayed {fresh.name} state (log position {loop.log_seq}) to {path}")
        counts = store.counts()
    except (StoreError, ValueError) as exc:
        fail(str(exc))
    report = {**counts, "state_equal": equal}
    click.echo(json.dumps(report) if as_json else "\n".join(f"{k}: {v}" for k, v in report.items()))


@main.command()
@click.option("--json", "as_json", is_flag=True, help='Print {"model", "active_model", "activated", "labels", '
              '"ndcg10_none" (fusion), "ndcg10_current", "ndcg10_new", "mrr_*", "gate": {set: {ranker: {ndcg10, mrr}}}, '
              '...}: the gate\'s judged queries.')
@click.option("--judgments", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Judgments in the RankLib format ('grade qid:N # docid', '# qid:N: query') instead of the log.")
@click.option("--source", type=click.Choice(["log", "ubi"]), default="log", show_default=True,
              help="Sessions from the data dir's feedback log, or from the cluster's UBI indices (--cluster).")
@click.option("--labels", type=click.Choice(["clicks", "pbm"]), default="clicks", show_default=True,
              help="clicks: the pages users saw, in display order, and what they did (unbiased LambdaMART); "
              "pbm: the position-based click model's grades of (query, entity) pairs (docs/training.md compares them).")
@click.option("--min-showings", default=1, show_default=True,
              help="With --labels pbm: showings of a (query, entity) before it is judged.")
@click.option("--searches", default=3000, show_default=True,
              help="Simulated searches generated when the log holds no feedback (into logs/simulated.sqlite3).")
@click.option("--into-serving", is_flag=True, help="Generate those simulated searches into the serving log instead "
              "(the serving policy then learns from simulated users).")
@click.option("--margin", default=0.0, show_default=True, help="Judged nDCG@10 the new model must gain to be activated "
              "(negative: a loss tolerated, also against fusion on each judged set).")
@click.option("--judged-queries", default=500, show_default=True, type=click.IntRange(2, 100_000),
              help="Simulated judged queries (held-out targets) of the gate, beside the hand set.")
@click.option("--no-activate", "activate", flag_value=False, default=True, help="Train and report only.")
@click.option("--rollback", is_flag=True, help="Return to the model active before the last activation, and stop.")
@click.option("--seed", default=1, show_default=True, help="Seed of XGBoost and of generated simulated searches.")
@settings_options()
@click.pass_obj
def train(obj: Ctx, as_json: bool, judgments: Path | None, source: str, labels: str, min_showings: int, searches: int,
          into_serving: bool, margin: float, judged_queries: int, activate: bool, rollback: bool, seed: int) -> None:
    """Retrain the ranker from feedback: the pages users saw and their clicks (or click-model
    grades, or a judgments file) → features → XGBoost → a gate on judged queries (the hand
    set and simulated users with held-out targets: fusion, the active model and the new one
    over every arm's candidates) → activate if the new model is better and no judged set
    ranks worse than with fusion. With --cluster the features are logged with the LTR
    plugin's ltr_log and the model is uploaded there with a parity check (searches then
    rescore with sltr). With no feedback logged yet, simulated users generate some first,
    into a log of their own (and it says so)."""
    from ..common.datadir import DataDir, DataDirError
    from ..ops.train import TrainOptions, run_training

    settings = obj.settings()
    if rollback:
        try:
            previous = DataDir(settings.data_dir).rollback_model()
        except DataDirError as exc:
            fail(str(exc))
        say(f"active model: {previous or 'none (fusion)'}")
        return
    searcher = searcher_for(obj, settings)
    from ..ranking.ltr.upload import UploadError
    from ..retrieval.engines import EngineError

    try:
        options = TrainOptions(judgments, source, labels, min_showings, searches, into_serving, margin, activate, seed,
                               gate_queries=judged_queries)
        report = run_training(settings, searcher, options, say)
    except (ValueError, UploadError, EngineError) as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        rows = [("none (fusion)", report["ndcg10_none"], report["mrr_none"]),
                ("current", report["ndcg10_current"], report["mrr_current"]), ("new", report["ndcg10_new"], report["mrr_new"])]
        click.echo(f"judged queries: {report['test_queries']} (labels: {report['labels']})")
        for name, ndcg, mrr in rows:
            if ndcg is not None:
                click.echo(f"  {name:14} nDCG@10 {ndcg:.4f}   MRR {mrr:.4f}")
        click.echo(f"active model: {report['active_model'] or 'none (fusion)'}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help='Print {"active": name, "models": [...], "interleaving": [...]}.')
@click.option("--promote", metavar="NAME", help="Activate model NAME: an `es-ltrr serve` running on this data dir switches to it "
              "within ~2 s, without a restart (and later starts rank with it).")
@click.option("--require-win", is_flag=True, help="With --promote: only if NAME won its interleaving test "
              "(the 95 % interval of its win rate above 0.5).")
@click.option("--delete", "delete", metavar="NAME", multiple=True,
              help="Delete model NAME from the data dir, and with --cluster from the cluster's LTR plugin (repeatable). "
                   "Never the active model nor the challenger_model; a rollback target (in models/HISTORY) only with --force.")
@click.option("--prune", is_flag=True, help="Delete every model that is not active, not the challenger_model and not "
              "a rollback target (with --force: rollback targets too), as --delete does.")
@click.option("--force", is_flag=True, help="With --delete/--prune: also models in models/HISTORY (rollback then "
              "skips them).")
@settings_options()
@click.pass_obj
def models(obj: Ctx, as_json: bool, promote: str | None, require_win: bool, delete: tuple[str, ...], prune: bool,
           force: bool) -> None:
    """The data dir's models (active one marked, held-out metrics) and the interleaving results
    of each challenger from the feedback log: wins, losses, ties, win rate with its 95 %
    Wilson interval (challenger_model + interleave_share in the settings run the test).
    --promote activates a model; --delete and --prune remove models (docs/training.md)."""
    from ..common.datadir import DataDir, DataDirError
    from ..feedback.interleaving_wins import outcomes
    from ..feedback.store import FeedbackStore, StoreError

    settings = obj.settings()
    data = DataDir(settings.data_dir)
    if promote:
        _promote(data, promote, require_win, settings)
    if delete or prune:
        _delete(data, settings, list(delete), prune, force)
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
        log = data.feedback_log
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


def _delete(data, settings, names: list[str], prune: bool, force: bool) -> None:
    """Delete `names` (and with `prune` every model nothing needs) from the data dir and, with
    --cluster, from the LTR plugin; says what went and what stayed, and why."""
    from ..common.datadir import DataDirError
    from ..ranking.ltr.plugin import LtrPlugin
    from ..retrieval.engines import EngineError
    from ..retrieval.engines.factory import cluster_engine

    active = data.active_model()
    keep = {active.name} if active else set()
    if settings.challenger_model:
        keep.add(settings.challenger_model)
    protected = keep if force else keep | set(data.history())
    plugin = LtrPlugin(cluster_engine(settings)) if settings.cluster_url else None
    if prune:
        for name in data.model_names():
            if name in protected:
                say(f"kept {name} ({'active' if active and name == active.name else 'the challenger_model' if name in keep else 'a rollback target: --force deletes it'})")
            elif name not in names:
                names.append(name)
    for name in names:
        if name in keep:
            fail(f"{name} is {'the active model' if active and name == active.name else 'the challenger_model'}: "
                 "it is never deleted (activate another, or change challenger_model, first)")
        on_disk = name in data.model_names()
        try:
            if on_disk:
                data.delete_model(name, history=force)
            on_node = plugin.delete_model(name) if plugin is not None else None
        except (DataDirError, ValueError, EngineError) as exc:
            fail(str(exc))
        if not on_disk and not on_node:
            fail(f"no model {name!r} in {data.root / 'models'}" + (" nor on the cluster" if plugin else ""))
        where = [w for w, done in (("the data dir", on_disk), ("the cluster's LTR plugin", on_node)) if done]
        say(f"deleted {name} from {' and '.join(where)}"
            + ("" if plugin else " (the cluster, if any, was not asked: pass --cluster URL)"))


def _promote(data, name: str, require_win: bool, settings=None) -> None:
    """Activate `name`; with `require_win`, only after an interleaving win of a challenger of
    that name; with --cluster, only a model the cluster's LTR plugin holds (else every search
    there would fall back to fusion)."""
    from ..common.datadir import DataDirError
    from ..feedback.interleaving_wins import outcomes
    from ..feedback.store import FeedbackStore

    if settings is not None and settings.cluster_url:
        from ..ranking.ltr.plugin import LtrPlugin
        from ..retrieval.engines.factory import cluster_engine

        plugin = LtrPlugin(cluster_engine(settings))
        if plugin.store_exists() and plugin.get_model(name) is None:
            fail(f"{name} is not in the cluster's LTR plugin: upload it first "
                 f"(`es-ltrr --cluster URL upload-model {data.model_dir(name) / 'model.json'} --activate`)")

    if require_win:
        log = data.feedback_log
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
