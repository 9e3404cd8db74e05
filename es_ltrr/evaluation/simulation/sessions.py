"""Simulated users who reformulate (issue 22): the Q2E memory's loop, measured.

A user wants one entity and types a nickname, an abbreviation or a vague reference for it
("mother monster", `judged/reformulations.jsonl`). When the target is on the page and the
user examines its rank (the position-based model's `examination`), they play it; otherwise
they reformulate in the same session with the canonical wording ("lady gaga") and play the
target there when they see it — as people do. Every user is a client of its own
(`client_id`), every task a session (`session_id`), so the memory can tell distinct users
from one repeating itself.

Rounds: before each round (and after the last) a probe searches every query and its
reformulation anonymously, without feedback, and reads the target's rank; then each task
gets `users` new users; then the backend settles (in process: the memory is relearned;
over HTTP: wait for the server's memory interval). A spammer can run beside them: one
client searching a popular query and posting plays of an unrelated entity every round; the
query's top 3 is compared before and after.

Backends: `LocalBackend` (a `Searcher` and its `FeedbackLoop`, offline) and `HttpBackend`
(a running `es-ltrr serve`; with `sessions=False`, requests carry no `client_id` /
`session_id` — what an es-ltrr before sessions accepts — and events keep their `client_id`).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

from ...common.plots import pyplot, save
from ..judged import Reformulation
from .clicks import ClickModel
from .http import post

PAGE = 10


#: A page as the user sees it: per hit, its id then the ids of the versions listed with it.
Page = list[tuple[str, ...]]


class Backend(Protocol):
    def search(self, query: str, client: str | None = None, session: str | None = None) -> tuple[str, Page]:
        """(impression id, page) of one search."""
        ...

    def feedback(self, events: list[dict[str, Any]]) -> None: ...

    def settle(self) -> None:
        """Wait until what the events taught is served."""
        ...


@dataclass
class HttpBackend:
    url: str
    sessions: bool = True
    settle_s: float = 3.0

    def search(self, query: str, client: str | None = None, session: str | None = None) -> tuple[str, Page]:
        body: dict[str, Any] = {"query": query, "k": PAGE}
        if self.sessions:
            body.update({k: v for k, v in (("client_id", client), ("session_id", session)) if v is not None})
        response = post(f"{self.url.rstrip('/')}/search", body)
        return response["impression_id"], [(hit["id"], *hit.get("variants", ())) for hit in response["hits"]]

    def feedback(self, events: list[dict[str, Any]]) -> None:
        for start in range(0, len(events), 500):
            post(f"{self.url.rstrip('/')}/feedback", events[start:start + 500])

    def settle(self) -> None:
        time.sleep(self.settle_s)


@dataclass
class LocalBackend:
    searcher: Any  # search.pipeline.Searcher
    loop: Any  # feedback.loop.FeedbackLoop (with a Q2EMemory)

    def search(self, query: str, client: str | None = None, session: str | None = None) -> tuple[str, Page]:
        from ...serving.contract import parse_search_request

        body = {"query": query, "k": PAGE, **({"client_id": client} if client else {}),
                **({"session_id": session} if session else {})}
        result = self.searcher.search(parse_search_request(body))
        self.loop.log_search(result)
        return result.impression_id, [(hit_id, *result.variant_ids(j)) for j, hit_id in enumerate(result.ids)]

    def feedback(self, events: list[dict[str, Any]]) -> None:
        for start in range(0, len(events), 500):
            self.loop.ingest(events[start:start + 500])

    def settle(self) -> None:
        self.loop.learn_memory()


def play(impression_id: str, entity: str, rank: int, client: str, event_id: str,
         session: str | None = None) -> dict[str, Any]:
    """A UBI play event."""
    return {"query_id": impression_id, "action_name": "play", "object_id": entity, "event_id": event_id,
            "client_id": client, **({"session_id": session} if session else {}),
            "event_attributes": {"position": {"ordinal": rank}}}


def rank_of(page: Page, target: str) -> int | None:
    """The 1-based rank of the hit that is `target` or lists it as a version; None when absent."""
    return next((rank for rank, hit in enumerate(page, start=1) if target in hit), None)


def user_session(backend: Backend, task: Reformulation, client: str, session: str, rng: random.Random,
                 clicks: ClickModel) -> str:
    """One user: search, play the target when seen, else reformulate and play it there.
    Returns what happened: "first", "reformulated" (played on the reformulation) or "gave_up"."""
    impression, page = backend.search(task.text, client, session)
    rank = rank_of(page, task.target)
    if rank is not None and rng.random() < clicks.examination(rank):
        backend.feedback([play(impression, task.target, rank, client, f"{session}-1", session)])
        return "first"
    impression, page = backend.search(task.reformulation, client, session)
    rank = rank_of(page, task.target)
    if rank is not None and rng.random() < clicks.examination(rank):
        backend.feedback([play(impression, task.target, rank, client, f"{session}-2", session)])
        return "reformulated"
    return "gave_up"


@dataclass(frozen=True)
class Spam:
    """One client posting `plays` plays of `entity` for `query` every round."""

    query: str
    entity: str
    plays: int = 84  # × 12 rounds ≈ 1,000
    client: str = "spammer"


@dataclass
class RoundsResult:
    label: str
    rank1: list[float] = field(default_factory=list)  # share of queries with the target at rank 1, per probe
    mrr: list[float] = field(default_factory=list)
    on_page: list[float] = field(default_factory=list)
    reformulation_rank1: list[float] = field(default_factory=list)
    outcomes: list[dict[str, int]] = field(default_factory=list)
    ranks_before: dict[str, int | None] = field(default_factory=dict)
    ranks_after: dict[str, int | None] = field(default_factory=dict)
    spam_top3_before: list[str] = field(default_factory=list)
    spam_top3_after: list[str] = field(default_factory=list)
    #: Whether the spam moved the query's top 3: an entity after it that five searches before it
    #: never showed in their top 3 (the explore arm's random candidates swap near ties by
    #: themselves), or the spammed entity in it.
    spam_moved: bool | None = None
    spam_entity: str = ""
    #: The spammed entity's best rank over the five searches before and after (None: not on the page).
    spam_rank_before: int | None = None
    spam_rank_after: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def probe(backend: Backend, tasks: Sequence[Reformulation]) -> tuple[dict[str, int | None], dict[str, int | None]]:
    """The target's rank for every query and every reformulation (anonymous, no feedback)."""
    first = {t.qid: rank_of(backend.search(t.text)[1], t.target) for t in tasks}
    second = {t.qid: rank_of(backend.search(t.reformulation)[1], t.target) for t in tasks}
    return first, second


def run_rounds(backend: Backend, tasks: Sequence[Reformulation], rounds: int = 12, users: int = 3, seed: int = 1,
               label: str = "", spam: Spam | None = None, clicks: ClickModel | None = None,
               say: Any = None) -> RoundsResult:
    """`rounds` rounds of `users` new users per task, probed before each round and after the last."""
    clicks, rng = clicks or ClickModel(), random.Random(seed)
    result = RoundsResult(label)
    usual: set[str] = set()
    if spam is not None:
        result.spam_entity = spam.entity
        pages = [backend.search(spam.query)[1] for _ in range(5)]
        tops = [[hit[0] for hit in page[:3]] for page in pages]
        result.spam_top3_before, usual = tops[0], {i for top in tops for i in top}
        result.spam_rank_before = _best_rank(pages, spam.entity)
    for r in range(rounds + 1):
        first, second = probe(backend, tasks)
        if r == 0:
            result.ranks_before = first | {f"{k}:reformulation": v for k, v in second.items()}
        n = len(tasks)
        result.rank1.append(sum(v == 1 for v in first.values()) / n)
        result.mrr.append(sum(1 / v for v in first.values() if v) / n)
        result.on_page.append(sum(v is not None for v in first.values()) / n)
        result.reformulation_rank1.append(sum(v == 1 for v in second.values()) / n)
        if say:
            say(f"{label} round {r}: rank 1 {result.rank1[-1]:.2f}, MRR@10 {result.mrr[-1]:.3f}, "
                f"reformulations at rank 1 {result.reformulation_rank1[-1]:.2f}")
        if r == rounds:
            result.ranks_after = first | {f"{k}:reformulation": v for k, v in second.items()}
            break
        outcomes = {"first": 0, "reformulated": 0, "gave_up": 0}
        for task in tasks:
            for u in range(users):
                client = f"u{seed}-{r}-{u}-{task.qid}"
                outcomes[user_session(backend, task, client, f"{client}-s", rng, clicks)] += 1
        result.outcomes.append(outcomes)
        if spam is not None:
            impression, page = backend.search(spam.query, spam.client, f"{spam.client}-{r}")
            rank = rank_of(page, spam.entity)
            if rank is not None:
                backend.feedback([play(impression, spam.entity, rank, spam.client, f"{spam.client}-{seed}-{r}-{i}")
                                  for i in range(spam.plays)])
        backend.settle()
    if spam is not None:
        pages = [backend.search(spam.query)[1] for _ in range(5)]
        tops = [[hit[0] for hit in page[:3]] for page in pages]
        result.spam_top3_after = tops[0]
        result.spam_rank_after = _best_rank(pages, spam.entity)
        result.spam_moved = any(not set(top) <= usual or spam.entity in top for top in tops)
    return result


def _best_rank(pages: Sequence[Page], entity: str) -> int | None:
    ranks = [r for r in (rank_of(page, entity) for page in pages) if r is not None]
    return min(ranks) if ranks else None


def curve_plot(results: Sequence[RoundsResult], path: Path) -> Path:
    """rank-1 share (solid) and reformulations at rank 1 (dashed) against rounds, per run."""
    plt = pyplot("the reformulation curve")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for res in results:
        line, = ax.plot(range(len(res.rank1)), res.rank1, marker="o", label=f"{res.label}: queries at rank 1")
        ax.plot(range(len(res.reformulation_rank1)), res.reformulation_rank1, linestyle="--", color=line.get_color(),
                label=f"{res.label}: reformulations at rank 1")
    ax.set(xlabel="rounds of users", ylabel="share at rank 1", ylim=(0, 1.05),
           title="Nicknames, abbreviations, vague references: target at rank 1")
    ax.legend(fontsize=7)
    return save(fig, path)


def table(results: Sequence[RoundsResult]) -> str:
    from tabulate import tabulate

    rows = []
    for res in results:
        spam = "" if res.spam_moved is None else (("moved" if res.spam_moved else "unchanged")
                                                  + f"; spammed entity {res.spam_rank_before} → {res.spam_rank_after}")
        rows.append([res.label, f"{res.rank1[0]:.2f} → {res.rank1[-1]:.2f}", f"{res.mrr[0]:.3f} → {res.mrr[-1]:.3f}",
                     f"{res.on_page[0]:.2f} → {res.on_page[-1]:.2f}",
                     f"{res.reformulation_rank1[0]:.2f} → {res.reformulation_rank1[-1]:.2f}", spam])
    return tabulate(rows, headers=["run", "queries at rank 1", "MRR@10", "target on page 1",
                                   "reformulations at rank 1", "spam query top 3"])
