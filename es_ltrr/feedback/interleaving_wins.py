"""Interleaving results from the log: per challenger, how often its team won the clicks."""

from __future__ import annotations

from dataclasses import dataclass

from ..ranking.team_draft import credit, wilson
from .store import FeedbackStore


@dataclass(frozen=True)
class Outcome:
    challenger: str
    wins: int  # the challenger's team got more clicks
    losses: int
    ties: int
    no_clicks: int

    @property
    def win_rate(self) -> float | None:
        decided = self.wins + self.losses
        return self.wins / decided if decided else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.wins, self.wins + self.losses)

    def to_dict(self) -> dict:
        low, high = self.interval
        return {"challenger": self.challenger, "wins": self.wins, "losses": self.losses, "ties": self.ties,
                "no_clicks": self.no_clicks, "win_rate": self.win_rate, "win_rate_95": [round(low, 4), round(high, 4)],
                "challenger_better": low > 0.5, "challenger_worse": high < 0.5}


def outcomes(store: FeedbackStore, champion: str | None = None) -> list[Outcome]:
    """One `Outcome` per challenger seen in the log (team B is the challenger), of the pages
    interleaved with the serving ranker `champion` when given."""
    tally: dict[str, list[int]] = {}
    for challenger, teams, engaged, served in store.interleavings():
        if champion is not None and served != champion:
            continue
        t = tally.setdefault(challenger, [0, 0, 0, 0])
        result = credit(teams, engaged)
        t[{"B": 0, "A": 1, "tie": 2, None: 3}[result]] += 1
    return [Outcome(c, *t) for c, t in sorted(tally.items())]
