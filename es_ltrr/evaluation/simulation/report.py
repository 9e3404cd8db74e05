"""The simulator's outputs: the table every policy is compared in, and PNG plots (cumulative
regret on the learning stream, recall as it learns, recall against candidates)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tabulate import tabulate

from ...common.plots import pyplot, save
from .experiment import LEARNING_WINDOW, SimulationResult

COLUMNS = [("recall", "recall"), ("mrr", "MRR"), ("ndcg10", "nDCG@10"), ("candidates", "candidates"),
           ("requested", "requested"), ("regret", "regret"), ("regret_rate_early", "regret/query early"),
           ("regret_rate_late", "regret/query late"), ("stream_recall", "recall (learning)")]


def table(result: SimulationResult) -> str:
    """One row per policy; relative columns against all_arms and the oracle when they ran."""
    rows = []
    base, oracle = result.metrics.get("all_arms"), result.metrics.get("oracle")
    for name, m in result.metrics.items():
        row = [result.runs[name].label, *(f"{m[key]:.3f}" if key not in ("candidates", "requested", "regret")
                                          else f"{m[key]:.1f}" for key, _ in COLUMNS)]
        row.append(f"{m['recall'] / oracle['recall']:.1%}" if oracle and oracle["recall"] else "")
        row.append(f"{m['candidates'] / base['candidates']:.1%}" if base and base["candidates"] else "")
        rows.append(row)
    headers = ["policy", *(h for _, h in COLUMNS), "recall / oracle", "candidates / all_arms"]
    c = result.config
    return (f"{c.queries} learning queries, {c.report_queries} report queries (held-out targets), seed {c.seed}, "
            f"cost {c.cost}/candidate, budget {c.budget}\n" + tabulate(rows, headers=headers))


def plots(result: SimulationResult, out: Path) -> list[Path]:
    """Write regret.png, learning.png, recall_vs_candidates.png and page_quality.png into `out`."""
    plt = pyplot("the simulator's plots (--plots)")
    written = []
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, run in result.runs.items():
        if name != "oracle":
            ax.plot(run.regret_curve(), label=run.label)
    ax.set(xlabel="learning queries", ylabel="cumulative regret vs oracle", title="Regret (lower is better)")
    ax.legend(fontsize=8)
    written.append(save(fig, out / "regret.png"))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    window = max(1, min(250, len(next(iter(result.runs.values())).stream) // 10))
    for name, run in result.runs.items():
        found = np.array([o.found for o in run.stream], dtype=float)
        if len(found) >= window:
            ax.plot(np.arange(window, len(found) + 1), np.convolve(found, np.ones(window) / window, "valid"), label=run.label)
    ax.set(xlabel="learning queries", ylabel=f"recall (moving mean of {window})", title="Learning curve")
    ax.legend(fontsize=8)
    written.append(save(fig, out / "learning.png"))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, m in result.metrics.items():
        ax.scatter(m["candidates"], m["recall"], s=40)
        ax.annotate(name, (m["candidates"], m["recall"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set(xlabel="candidates per query (report set)", ylabel="recall of a relevant entity",
           title="Recall against retrieval cost")
    written.append(save(fig, out / "recall_vs_candidates.png"))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    curve = result.learning_curve()
    for name, points in curve.items():
        x = [(i + 1) * LEARNING_WINDOW for i in range(len(points))]
        ax.plot(x, points, marker="o", label=result.runs[name].label)
    ax.set(xlabel="learning searches", ylabel=f"page nDCG@10 (mean of {LEARNING_WINDOW})",
           title="Page quality while learning (higher is better)")
    ax.legend(fontsize=8)
    written.append(save(fig, out / "page_quality.png"))
    return written
