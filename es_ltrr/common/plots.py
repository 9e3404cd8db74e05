"""PNG files from matplotlib figures, written one way: the Agg backend (files only — no
display on servers and CI), tight layout, 110 dpi, the figure closed once saved. The plots
themselves (regret curves, nDCG per intent, stage cost against size) live with what they show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .extras import require


def pyplot(what: str) -> Any:
    """`matplotlib.pyplot` on the Agg backend; without matplotlib, a `MissingExtra` naming the
    extra to install (`simulate`) and `what` needed it."""
    matplotlib = require("matplotlib", "simulate", what)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path) -> Path:
    """Write `fig` to `path` as PNG (its folder created) and close it; returns `path`."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
