"""A small catalog that looks like the whole one: a stratified, seeded sample of a Spotify CSV's
rows (`es-ltrr catalog slice`).

The file's first rows are not a small catalog: they come playlist by playlist, so the first
2,000 are all pop ("90s rock" on them returns Haddaway). A slice draws rows from every
stratum of (playlist genre × release decade × popularity quartile) in proportion to its size
— every stratum at least once when `rows` allows — so a 2,000-row slice has every genre in
its share, the 1960s to the 2020s, and the long tail as well as the hits. Rows are copied as
they are (a track in several playlists may keep only some of its rows) and written in the
source's order; the same seed gives the same file.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .spotify import DEFAULT_CATALOG, _open_text

#: The stratum of a row whose field is missing or does not parse.
UNKNOWN = "?"


@dataclass
class SliceReport:
    """What a slice holds: rows, strata drawn from, and the rows per genre, decade and
    popularity quartile (Q1 = the least popular quarter of the source's rows)."""

    path: Path
    rows: int
    strata: int
    genres: Counter = field(default_factory=Counter)
    decades: Counter = field(default_factory=Counter)
    popularity: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        def line(name: str, counts: Counter) -> str:
            return f"  {name:<10} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))

        return "\n".join([f"{self.path}: {self.rows:,} rows from {self.strata} strata",
                          line("genre", self.genres), line("decade", self.decades),
                          line("popularity", self.popularity)])


def decade(date: str) -> str:
    """"2019-06-14" → "2010s"; anything without a leading year → "?".

    >>> decade("1994-03-01"), decade("1969"), decade("")
    ('1990s', '1960s', '?')
    """
    year = date.strip()[:4]
    return f"{year[:3]}0s" if len(year) == 4 and year.isdigit() else UNKNOWN


def write_slice(path: Path | str, rows: int, seed: int = 1, source: Path | str = DEFAULT_CATALOG) -> SliceReport:
    """`rows` rows of the Spotify CSV `source`, stratified by genre, decade and popularity
    quartile, with its header, into `path` (gzipped when it ends in .gz)."""
    path, source = Path(path), Path(source)
    if rows < 1:
        raise ValueError(f"a slice needs at least 1 row (got {rows})")
    try:
        with _open_text(source) as fh:
            header, *records = list(csv.reader(fh))
    except (OSError, EOFError, csv.Error, ValueError) as exc:  # ValueError: an empty file
        raise ValueError(f"{source}: cannot read ({exc})") from None
    missing = [c for c in ("playlist_genre", "track_album_release_date", "track_popularity") if c not in header]
    if missing:
        raise ValueError(f"{source} is not a Spotify catalog CSV: no column(s) {', '.join(missing)}")
    col = {name: header.index(name) for name in ("playlist_genre", "track_album_release_date", "track_popularity")}
    records = [r for r in records if len(r) == len(header)]  # the loader would skip the others anyway
    cuts = _quartile_cuts([_number(r[col["track_popularity"]]) for r in records])

    def stratum(r: list[str]) -> tuple[str, str, str]:
        popularity = _number(r[col["track_popularity"]])
        quartile = UNKNOWN if popularity is None else f"Q{bisect_right(cuts, popularity) + 1}"
        return (r[col["playlist_genre"]].strip() or UNKNOWN, decade(r[col["track_album_release_date"]]), quartile)

    by_stratum: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_stratum[stratum(r)].append(i)
    rng = random.Random(seed)
    quotas = _allocate({k: len(v) for k, v in sorted(by_stratum.items())}, min(rows, len(records)), rng)
    chosen = sorted(i for key, n in quotas.items() for i in rng.sample(by_stratum[key], n))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(records[i] for i in chosen)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.getvalue().encode("utf-8", errors="surrogateescape")
    if path.name.endswith(".gz"):
        with open(path, "wb") as raw, gzip.GzipFile("", "wb", fileobj=raw, mtime=0) as out:
            out.write(data)  # no name, no time in the header: the same seed, the same bytes
    else:
        path.write_bytes(data)
    picked = [stratum(records[i]) for i in chosen]
    return SliceReport(path, len(chosen), len(by_stratum), Counter(s[0] for s in picked),
                       Counter(s[1] for s in picked), Counter(s[2] for s in picked))


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _quartile_cuts(values: list[float | None]) -> list[float]:
    """The three values below which a quarter, half and three quarters of `values` lie."""
    known = sorted(v for v in values if v is not None)
    if not known:
        return []
    return sorted({known[min(len(known) - 1, len(known) * q // 4)] for q in (1, 2, 3)})


def _allocate(sizes: dict, total: int, rng: random.Random) -> dict:
    """Rows per stratum summing to `total`: one for each stratum first when `total` allows,
    the rest in proportion to the strata's sizes (largest remainders, ties drawn by `rng`),
    never more than a stratum holds."""
    quota = {k: 0 for k in sizes}
    if total >= len(sizes):
        quota = {k: 1 for k in sizes}
    while (left := total - sum(quota.values())) > 0:
        room = {k: sizes[k] - quota[k] for k in sizes if sizes[k] > quota[k]}
        weight = sum(room.values())
        shares = {k: left * n / weight for k, n in room.items()}
        for k, share in shares.items():
            quota[k] += int(share)
        left = total - sum(quota.values())
        if left > 0:
            order = sorted(room, key=lambda k: (-(shares[k] - int(shares[k])), rng.random()))
            for k in order[:left]:
                if quota[k] < sizes[k]:
                    quota[k] += 1
    return quota
