"""What the log says about one Q2E key: per entity, the votes of distinct clients.

The Q2E memory (`memory.py`) turns this into the stored `q2e.<key>` values. The rules — the
memory's security boundary, documented in docs/feedback.md ("The Q2E memory that learns"):

* **One client, one vote per key.** A client's searches for the key (`n`, decayed) and its
  engagement with entity e on them are summed, and its vote for e is
  `clip((engaged − skipped) / max(1, n), −cap, cap)`: a thousand plays from one client
  weigh what one play does, and a client that searched the key but engaged nothing still
  counts in the key's searches (`min(cap, n)`). One impression counts its largest weight per
  entity (a hundred plays of one search are one play). The client of a search is the
  request's `client_id`, else the `client_id` of the first event on it; without either, every
  such search is the same client, `ANONYMOUS` (they cannot be told apart, so together they
  weigh as one).
* **One client moves nothing.** A pair's value moves only once at least `min_movers`
  distinct identified clients voted on it (for or against): a lone client — or the
  anonymous crowd — can neither add a key to an entity nor raise or lower a pair, so the
  page it sees is the page everyone sees.
* **Skips lower a pair.** A skip's weight (−0.5) subtracts from the client's vote.
* **Reformulations, by agreement.** A search that earned no positive engagement, followed
  in the same session (same client and `session_id`) within the window by a search for
  another key that did, credits the first key with what the second engaged, discounted
  (`discount`, ½ of a direct play). Nicknames share no words with what they mean, so the
  evidence that such a transition is a reformulation is agreement: the credit for (key, e)
  counts only once `min_clients` distinct identified clients made a transition from the
  key that ended on e. One client going "hello" → "metallica" teaches nothing.
* **Confirmed pairs.** (key, e) is confirmed when the distinct identified clients voting
  for e outnumber those voting against it (skips) by at least `min_clients`, and e's net
  votes hold at least `min_share` of the key's positive net votes: the memory stores it above `CONFIRMED_VALUE` and the page puts it first
  (`ranking/memory.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

#: The client of searches nobody identified (no `client_id` on the request or its events).
ANONYMOUS = ""


@dataclass(frozen=True)
class MemoryRules:
    #: A reformulation's credit against a direct engagement.
    discount: float = 0.5
    #: Distinct identified clients that must agree: on a reformulation (key → entity) before
    #: its credit counts, and on an entity before the pair is confirmed.
    min_clients: int = 3
    #: The share of the key's positive votes a confirmed entity holds.
    min_share: float = 0.5
    #: The most one client's vote for one entity (and its searches) weighs.
    cap: float = 1.0
    #: Distinct identified clients that must have voted on a pair before its value moves.
    min_movers: int = 2
    #: Seconds between a search and the session's next one for a reformulation.
    window_s: float = 180.0


@dataclass(frozen=True)
class KeySearch:
    """One search for the key as the memory reads it."""

    client: str
    weight: float = 1.0  # its decay (1 = now)
    engaged: Mapping[str, float] = field(default_factory=dict)  # entity → largest positive weight
    skipped: Mapping[str, float] = field(default_factory=dict)  # entity → the skip's weight (< 0)
    #: Entity → positive weight engaged on the session's next search (another key), when this
    #: search earned no positive engagement.
    reformulated: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PairEvidence:
    votes: float  # Σ over clients of their vote for the entity (may be < 0: skips)
    clients: int  # distinct identified clients voting for it, less those voting against (skips)
    share: float  # its net votes' share of the key's positive net votes
    confirmed: bool
    movers: int = 0  # distinct identified clients voting on it, for or against

    def moves(self, rules: "MemoryRules") -> bool:
        """Whether enough distinct clients voted for the pair's value to move."""
        return self.movers >= rules.min_movers


@dataclass(frozen=True)
class KeyEvidence:
    searches: float  # Σ over clients of min(cap, their decayed searches)
    pairs: Mapping[str, PairEvidence]


def key_evidence(searches: Iterable[KeySearch], rules: MemoryRules = MemoryRules()) -> KeyEvidence:
    """The votes per entity of one key's searches under `rules`.

    >>> one = [KeySearch("c1", engaged={"metallica": 1.0})] * 1000
    >>> key_evidence(one).pairs["metallica"]
    PairEvidence(votes=1.0, clients=1, share=1.0, confirmed=False, movers=1)
    >>> many = [KeySearch(f"c{i}", reformulated={"gaga": 1.0}) for i in range(4)]
    >>> key_evidence(many).pairs["gaga"]
    PairEvidence(votes=2.0, clients=4, share=1.0, confirmed=True, movers=4)
    >>> key_evidence(many[:1]).pairs
    {}
    """
    searches = list(searches)
    agreeing: dict[str, set[str]] = {}
    for s in searches:
        if s.client != ANONYMOUS:
            for entity, weight in s.reformulated.items():
                if weight > 0:
                    agreeing.setdefault(entity, set()).add(s.client)
    credited = {e for e, clients in agreeing.items() if len(clients) >= rules.min_clients}

    n: dict[str, float] = {}
    raw: dict[str, dict[str, float]] = {}  # client → entity → engaged − skipped (decayed)
    for s in searches:
        n[s.client] = n.get(s.client, 0.0) + s.weight
        mine = raw.setdefault(s.client, {})
        for entity, weight in s.engaged.items():
            mine[entity] = mine.get(entity, 0.0) + s.weight * weight
        for entity, weight in s.reformulated.items():
            if entity in credited and entity not in s.engaged:
                mine[entity] = mine.get(entity, 0.0) + s.weight * rules.discount * weight
        for entity, weight in s.skipped.items():
            mine[entity] = mine.get(entity, 0.0) + s.weight * weight
    votes: dict[str, float] = {}
    voters: dict[str, int] = {}
    movers: dict[str, int] = {}
    for client, entities in raw.items():
        for entity, total in entities.items():
            vote = max(-rules.cap, min(rules.cap, total / max(1.0, n[client])))
            votes[entity] = votes.get(entity, 0.0) + vote
            if vote != 0 and client != ANONYMOUS:
                voters[entity] = voters.get(entity, 0) + (1 if vote > 0 else -1)
                movers[entity] = movers.get(entity, 0) + 1
    positive = {entity: max(0.0, v) for entity, v in votes.items()}
    total = sum(positive.values())
    pairs = {}
    for entity in sorted(votes):
        share = positive[entity] / total if total > 0 else 0.0
        clients = voters.get(entity, 0)
        pairs[entity] = PairEvidence(round(votes[entity], 9), clients, round(share, 9),
                                     clients >= rules.min_clients and share >= rules.min_share and votes[entity] > 0,
                                     movers.get(entity, 0))
    return KeyEvidence(sum(min(rules.cap, v) for v in n.values()), pairs)
