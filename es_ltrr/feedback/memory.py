"""The Q2E memory that learns: engagement moves an entity's `q2e.<query key>` rank feature.

For a normalized query key k and an entity e, the stored value is a smoothed engagement rate

    q2e[k](e) = (s · prior + E) / (s + N)

where E is the engagement of e on searches for k (the events' action weights, > 0 only), N
the number of searches for k, both decayed with a half-life (`half_life_days`: an event a
half-life old counts half), `s` the prior's strength in searches, and `prior` the
entity's cold-start predicted score for k (`catalog/queries.py`), or `floor` when the
catalog never predicted k for e. A key users engage with rises towards their engagement
rate; one they skip past sinks; a key is *added* for an entity another arm found — the
misspelling only the fuzzy or semantic arm solved today is answered by the memory arm's
rank_feature clause tomorrow (the `q2e_queries` text, the arm's fuzzy clause, keeps the
catalog's predicted queries: rewriting that text field rebuilds it for every entity on the
embedded engine, ~3.4 s at 62k entities). The prior is read from the index the first time
a pair is learned and kept in the log (`q2e_priors`), so learning never loses it.

Values are a function of the log (and the clock), so every replica folding the same events
writes the same values; writes go through `Engine.update` (on a cluster: read, merge, write
back with sequence-number guards).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable

from ..common.analysis import q2e_key
from ..retrieval.engines.base import Engine
from .store import FeedbackStore

#: Smallest stored value: rank_features refuses 0 and negatives.
MIN_VALUE = 1e-4


@dataclass
class Q2EMemory:
    engine: Engine
    store: FeedbackStore
    half_life_days: float = 30.0
    strength: float = 5.0
    floor: float = 0.05

    def learn(self, pairs: Iterable[tuple[str, str]], now: float | None = None) -> int:
        """Recompute and write q2e values for (query text, entity id) pairs; how many entities."""
        now = time.time() if now is None else now
        by_entity: dict[str, set[str]] = {}
        for query, entity in pairs:
            key = q2e_key(query)
            if key:
                by_entity.setdefault(entity, set()).add(key)
        if not by_entity:
            return 0
        sources = self.engine.get(sorted(by_entity))
        updates = {}
        for entity, keys in by_entity.items():
            source = sources.get(entity)
            if source is None:
                continue  # an id the catalog no longer has
            q2e = dict(source.get("q2e") or {})
            for key in sorted(keys):
                prior = self.store.q2e_prior(key, entity, q2e.get(key, self.floor))
                engagement, searches = self.store.q2e_evidence(key, entity, now, self.half_life_days)
                q2e[key] = round(max(MIN_VALUE, (self.strength * prior + engagement) / (self.strength + searches)), 6)
            updates[entity] = {"q2e": q2e}
        return self.engine.update(updates) if updates else 0
