"""Team-draft interleaving (Radlinski, Kurup & Joachims 2008): an online A/B test of two
rankers on one page.

The two rankings take turns like captains picking teams: the team with fewer picks so far
(a coin flip on a tie) adds its best item not yet on the page. Each page entry remembers
its team, and a click credits the team that placed the clicked item; per search the team
with more clicks wins. Interleaving needs far fewer searches than an A/B split to tell two
rankers apart, and every user sees a page as good as the worse of the two at most.
"""

from __future__ import annotations

import random
from typing import Sequence


def team_draft(a: Sequence[int], b: Sequence[int], k: int, rng: random.Random) -> tuple[list[int], list[str]]:
    """Interleave rankings `a` and `b` (best first, same items) into `k` items with teams "A"/"B".

    >>> team_draft([1, 2, 3, 4], [4, 3, 2, 1], 4, random.Random(0))
    ([4, 1, 3, 2], ['B', 'A', 'B', 'A'])
    """
    page: list[int] = []
    teams: list[str] = []
    taken: set[int] = set()
    picks = {"A": 0, "B": 0}
    sources = {"A": list(a), "B": list(b)}
    cursor = {"A": 0, "B": 0}
    limit = min(k, len(set(a) | set(b)))
    while len(page) < limit:
        if picks["A"] != picks["B"]:
            team = "A" if picks["A"] < picks["B"] else "B"
        else:
            team = "A" if rng.random() < 0.5 else "B"
        ranking = sources[team]
        while cursor[team] < len(ranking) and ranking[cursor[team]] in taken:
            cursor[team] += 1
        if cursor[team] >= len(ranking):  # this team has nothing left: the other one picks
            team = "B" if team == "A" else "A"
            ranking = sources[team]
            while cursor[team] < len(ranking) and ranking[cursor[team]] in taken:
                cursor[team] += 1
            if cursor[team] >= len(ranking):
                break
        item = ranking[cursor[team]]
        page.append(item)
        teams.append(team)
        taken.add(item)
        picks[team] += 1
    return page, teams


def credit(teams: dict[str, str], clicked: set[str]) -> str | None:
    """"A", "B" or "tie" for one interleaved page given the clicked ids; None without clicks."""
    a = sum(1 for i in clicked if teams.get(i) == "A")
    b = sum(1 for i in clicked if teams.get(i) == "B")
    if a == b == 0:
        return None
    return "A" if a > b else "B" if b > a else "tie"


def wilson(wins: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a win rate (wins of n decided comparisons)."""
    if n == 0:
        return 0.0, 1.0
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
