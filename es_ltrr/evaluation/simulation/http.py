"""The simulator through the HTTP API: simulated users search a running `es-ltrr serve` and
post their clicks to its `/feedback`, so the whole loop runs — logging, durable events,
folding into the served policy — and the same metrics come out as in process.

The served policy is whatever the server runs (its `--policy`, state and burn-in). Searches
ask for `debug` so the response carries every arm's list (the candidate union, for recall).
Clicks become UBI events: engagement weight ≥ 1 (a relevant item) is a `play`, less a
`click`; each with a deterministic `event_id`, so a re-run against the same server is
deduplicated. Unlike the in-process run, a search nobody clicks teaches the server nothing
(the feedback loop learns from events, and there are none), as with real users. The oracle
and its regret come from the local index (it must hold the server's catalog).
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from typing import Any, Sequence

from tqdm import tqdm

from .clicks import ClickModel
from .runner import Outcome, PolicyRun, Trial, objective, page_ndcg


class HttpError(RuntimeError):
    """The server answered with an error or not at all."""


def post(url: str, body: Any, timeout: float = 30.0) -> dict[str, Any]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise HttpError(f"POST {url}: {exc.code} {exc.read()[:300].decode(errors='replace')}") from None
    except OSError as exc:
        raise HttpError(f"POST {url}: {exc}") from None


def outcome(body: dict[str, Any], trial: Trial, cost: float, oracle: float) -> Outcome:
    """Score one served response like an in-process search."""
    union = {id_ for arm in body.get("arm_results", []) for id_ in arm["ids"]}
    requested = sum(arm["requested"] for arm in body["arms"])
    found = bool(union & trial.query.relevant)
    page = [hit["id"] for hit in body["hits"]]
    return Outcome(found, len(union), requested, page, objective(found, requested, cost), oracle,
                   page_ndcg(page, trial.query.grades))


def run_http(base_url: str, stream: Sequence[Trial], report: Sequence[Trial], oracle_stream: Sequence[float],
             oracle_report: Sequence[float], cost: float, clicks: ClickModel, seed: int,
             progress: bool = True) -> PolicyRun:
    """The learning stream with feedback, then the report set without, against `base_url`."""
    base = base_url.rstrip("/")
    rng = random.Random(seed)
    run = PolicyRun("http", f"served at {base}")
    for i, trial in enumerate(tqdm(stream, desc="http (learning)", unit="query", disable=not progress, mininterval=2.0)):
        body = post(f"{base}/search", {"query": trial.query.text, "debug": True})
        run.label = f"{body.get('policy', 'served')} (over HTTP)"
        result = outcome(body, trial, cost, oracle_stream[i])
        run.stream.append(result)
        clicked = clicks.clicks(result.page, trial.query, rng)
        events = clicks.ubi_events(body["impression_id"], result.page, clicked, trial.query, f"sim-{seed}-{i}",
                                   f"sim-{seed}-{i}")  # each simulated user a client of its own
        if events:
            post(f"{base}/feedback", events)
    for i, trial in enumerate(tqdm(report, desc="http (report)", unit="query", disable=not progress, mininterval=2.0)):
        run.report.append(outcome(post(f"{base}/search", {"query": trial.query.text, "debug": True}), trial, cost,
                                  oracle_report[i]))
    return run
