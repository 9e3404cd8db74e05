"""The Q2E memory that learns: engagement moves an entity's `q2e.<query key>` rank feature.

For a normalized query key k and an entity e, the stored value is a smoothed engagement rate

    q2e[k](e) = (s · prior + V) / (s + N)

where V is the sum of the clients' votes for e on k and N the clients' searches for k, each
client weighing at most `cap` (`evidence.py`: one client, one vote per key; skips lower it;
a reformulation credits the key it left, discounted, once enough distinct clients agree),
a pair moving only once at least two distinct identified clients voted on it,
everything decayed with a half-life (`half_life_days`: a search a half-life old counts
half), `s` the prior's strength in searches, and `prior` the entity's cold-start predicted
score for k (`catalog/queries.py`), or `floor` when the catalog never predicted k for e. A
key users engage with rises towards their engagement rate; one they skip past sinks; a key
is *added* for an entity another arm found — or that users found by reformulating — so the
misspelling or nickname only another search solved today is answered by the memory arm's
rank_feature clause tomorrow. A pair with clear evidence (enough distinct clients, a
dominant share of the key's votes) is **confirmed**: stored at `CONFIRMED_VALUE` + its rate,
so the page puts it first under any ranker (`ranking/memory.py`). The `q2e_queries` text
(the arm's fuzzy clause) keeps the catalog's predicted queries: rewriting that text field
rebuilds it for every entity on the embedded engine, ~3.4 s at 62k entities. The prior is
read from the index the first time a pair is learned and kept in the log (`q2e_priors`), so
learning never loses it.

Every value written is also kept in the log with its time (`q2e_writes`), so training reads
the memory as each logged page saw it (`FeedbackStore.memory_at`), not with the clicks the
page itself earned already folded in.

Each relearned key is recomputed whole — every entity it holds evidence for and every
entity learned on it before — since one entity's votes move the others' shares. Values are
a function of the log (and the clock), so every replica folding the same events writes the
same values; writes go through `Engine.update` (on a cluster: read, merge, write back with
sequence-number guards).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

from ..common.analysis import q2e_key
from ..retrieval.arms.q2e import CONFIRMED_VALUE
from ..retrieval.engines.base import Engine
from .evidence import MemoryRules, key_evidence
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
    rules: MemoryRules = field(default_factory=MemoryRules)

    def learn(self, pairs: Iterable[tuple[str, str]], now: float | None = None) -> int:
        """Recompute and write the q2e values of the keys of (query text, entity id) pairs;
        how many entities were written."""
        return self._learn_keys({k for k in (q2e_key(query) for query, _ in pairs) if k}, now, record=True)

    def restore(self, now: float | None = None) -> int:
        """Write every key the memory ever learned again, from the log: an index that does not
        keep the memory's writes (the embedded engine's, loaded from disk by a new process)
        then holds what the serving process held (values decay to `now`). Not recorded in
        `q2e_writes`: nothing new was learned."""
        return self._learn_keys(set(self.store.memory_keys()), now, record=False)

    def _learn_keys(self, wanted: set[str], now: float | None, record: bool) -> int:
        now = time.time() if now is None else now
        keys = sorted(wanted)
        learned: dict[str, set[str]] = {}  # entity → the keys to write for it
        evidence_of = {}
        for key in keys:
            evidence = key_evidence(self.store.key_searches(key, now, self.half_life_days, self.rules.window_s),
                                    self.rules)
            evidence_of[key] = evidence
            entities = {e for e, p in evidence.pairs.items() if p.votes > 0} | set(self.store.learned_entities(key))
            entities |= {e for e, p in evidence.pairs.items() if p.votes <= 0}  # skips lower a known pair
            for entity in entities:
                learned.setdefault(entity, set()).add(key)
        if not learned:
            return 0
        sources = self.engine.get(sorted(learned))
        updates = {}
        writes: list[tuple[str, str, float, float | None]] = []
        for entity, keys_of in learned.items():
            source = sources.get(entity)
            if source is None:
                continue  # an id the catalog no longer has
            q2e = dict(source.get("q2e") or {})
            changed = False
            for key in sorted(keys_of):
                evidence = evidence_of[key]
                pair = evidence.pairs.get(entity)
                moved = pair is not None and pair.moves(self.rules)
                votes = pair.votes if moved else 0.0
                first = not self.store.has_prior(key, entity)
                if first and (not moved or (key not in q2e and votes <= 0)):
                    continue  # one client moves nothing; no key is added for an entity users only skipped
                before = q2e.get(key)
                prior = self.store.q2e_prior(key, entity, before if before is not None and before <= 1.0 else self.floor)
                value = max(MIN_VALUE, (self.strength * prior + votes) / (self.strength + evidence.searches))
                q2e[key] = round(CONFIRMED_VALUE + value if moved and pair.confirmed else value, 6)
                if first:  # what the pair held before the memory first wrote it (the catalog's, or nothing)
                    writes.append((key, entity, 0.0, before))
                if q2e[key] != before:
                    writes.append((key, entity, now, q2e[key]))
                changed = True
            if changed:
                updates[entity] = {"q2e": q2e}
        written = self.engine.update(updates) if updates else 0
        if record:  # after the index took them: a page served before saw the old values
            self.store.add_memory_writes(writes)
        return written
