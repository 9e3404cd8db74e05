"""What a clause handler may ask of the evaluator running it (`evaluator.Eval`), and what it
returns: handlers (`clauses.py`, `function_score.py`) are registered in `clauses.CLAUSES`,
which the evaluator dispatches on, so they know the evaluator only through this protocol."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

Result = tuple[np.ndarray, np.ndarray]  # (scores float32[n], matched bool[n])


class Evaluator(Protocol):
    """One request's query tree being evaluated against an index snapshot."""

    ix: Any  # the `Snapshot` queried
    n: int  # documents in the snapshot
    window: int  # hits the request asks for (a knn clause's default k)

    def query(self, q: Any, path: str) -> Result: ...

    def finish(self, params: dict, scores: np.ndarray, matched: np.ndarray, path: str = "") -> Result: ...

    def none(self) -> Result: ...

    def constant(self, matched: np.ndarray) -> Result: ...

    def part(self, field: str) -> Any: ...

    def term(self, field: str, value: Any, path: str) -> Result: ...

    def ids_mask(self, values: list) -> np.ndarray: ...

    def match(self, field: str, p: dict, path: str, phrase: bool = False) -> Result: ...

    def knn(self, field: str, vector: Any, k: int, filt: Any, similarity: float | None, path: str) -> Result: ...
