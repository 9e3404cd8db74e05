"""`es-ltrr evaluate --plots DIR`: the comparison as PNGs (matplotlib, Agg: files only), per
judged set — nDCG@10 per system per intent, recall@100 against candidates per query, latency."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..common.plots import pyplot, save


def plots(document: Mapping[str, Any], out: Path) -> list[Path]:
    """Write ndcg_by_intent_<set>.png, recall_vs_candidates_<set>.png and latency_<set>.png."""
    plt = pyplot("the evaluation's plots (--plots)")
    written = []
    for set_name, report in document["sets"].items():
        written.append(_ndcg_by_intent(plt, report, set_name, out / f"ndcg_by_intent_{set_name}.png"))
        written.append(_recall_vs_candidates(plt, report, set_name, out / f"recall_vs_candidates_{set_name}.png"))
        written.append(_latency(plt, report, set_name, out / f"latency_{set_name}.png"))
    return written


def _ndcg_by_intent(plt: Any, report: Mapping[str, Any], set_name: str, path: Path) -> Path:
    intents, names = list(report["by_intent"]), list(report["systems"])
    width = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(max(7, 1.1 * len(intents)), 4.5))
    x = np.arange(len(intents))
    for k, name in enumerate(names):
        ax.bar(x + k * width, [report["by_intent"][i][name]["ndcg10"] for i in intents], width, label=name)
    ax.set_xticks(x + width * (len(names) - 1) / 2, intents, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="nDCG@10", ylim=(0, 1), title=f"nDCG@10 per intent ({set_name} set, {report['queries']} queries)")
    ax.legend(fontsize=8)
    return save(fig, path)


def _recall_vs_candidates(plt: Any, report: Mapping[str, Any], set_name: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, m in report["systems"].items():
        ax.scatter(m["candidates"], m["recall100"], s=40)
        ax.annotate(name, (m["candidates"], m["recall100"]), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.set(xlabel="candidates per query", ylabel="recall@100", title=f"Recall against cost ({set_name} set)")
    return save(fig, path)


def _latency(plt: Any, report: Mapping[str, Any], set_name: str, path: Path) -> Path:
    names = list(report["systems"])
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.bar(x - 0.2, [report["systems"][n]["p50_ms"] for n in names], 0.4, label="p50")
    ax.bar(x + 0.2, [report["systems"][n]["p99_ms"] for n in names], 0.4, label="p99")
    ax.set_xticks(x, names, fontsize=8)
    ax.set(ylabel="ms per search", title=f"Latency ({set_name} set)")
    ax.legend(fontsize=8)
    return save(fig, path)
