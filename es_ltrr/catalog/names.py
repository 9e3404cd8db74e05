"""How people type names and titles: the text rules shared by the gazetteer (query
understanding) and the cold-start query generator (Q2E), so that the forms of a name the
memory predicts are the forms the tagger recognizes.

* :func:`core_title` — a title without "(feat. …)", "[Remix]", " - Radio Edit" decorations;
* :func:`without_apostrophes` — "Don't" as typed: "Dont";
* :func:`without_symbols` — "Trap 2020 🔥" as typed: "Trap 2020";
* :func:`name_variants` — other typed forms of an artist name ("beatles", "simon and
  garfunkel", "kesha");
* :data:`GENRE_SYNONYMS` — other ways to say a genre ("rnb" for R&B);
* :data:`STOPWORDS` — words too common in queries and names to identify anything.
"""

from __future__ import annotations

import re

from es_ltrr.common.analysis import is_symbol, normalize_query, words

STOPWORDS = frozenset(
    """a an and the of by in on at for to from with my me you your i it is be we us
    feat ft featuring vs lil dj mc big young little boys girls band crew brothers
    sisters official best top new old hits music remix mix live version edit original
    la el los las de del le les y""".split()
)

#: Genre keyword → other ways to say it (used only when the keyword is in the catalog).
GENRE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "r&b": ("rnb", "r and b", "randb", "rhythm and blues"),
    "edm": ("electronic", "electronic dance music", "dance music", "electronica"),
    "rap": ("rappers",),
    "rock": ("rock and roll", "rock n roll"),
    "hip hop": ("hiphop", "hip hop music"),
    "latin": ("latino", "musica latina"),
    "reggaeton": ("regueton", "reggaeton music"),
}

#: A name without its leading "the" must keep at least this many characters to be a
#: variant ("beatles" for The Beatles, but not "xx" or "who").
MIN_BARE_NAME_CHARS = 4

_BRACKETS = re.compile(r"\s*[\(\[][^\)\]]*[\)\]]")
_DASH_SUFFIX = re.compile(r"\s+[-–—]\s+.*$")
_FEAT = re.compile(r"\s+(feat\.?|ft\.?|featuring)\s+.*$", re.IGNORECASE)
_APOSTROPHES = re.compile(r"[’'`´]")


def core_title(name: str) -> str:
    """A title without decorations: "(feat. X)", "[Remix]", " - Radio Edit", "feat. X".

    Falls back to the whole name when stripping would leave nothing.

    >>> core_title("I Don't Care (with Justin Bieber) - Loud Luxury Remix")
    "I Don't Care"
    >>> core_title("(I Can't Get No) Satisfaction")
    'Satisfaction'
    >>> core_title("[Untitled]")
    '[Untitled]'
    """
    stripped = _FEAT.sub("", _DASH_SUFFIX.sub("", _BRACKETS.sub("", name))).strip()
    return stripped if words(stripped) else name.strip()


def without_apostrophes(text: str) -> str:
    """The text as people type it without apostrophes ("Don't" → "Dont")."""
    return _APOSTROPHES.sub("", text)


def without_symbols(text: str) -> str:
    """The text without emoji and other symbols, which few people type ("Trap 2020 🔥").

    >>> without_symbols("💊ELECTRO-HOUSE💊")
    'ELECTRO-HOUSE'
    """
    return "".join(c for c in text if not is_symbol(c))


def name_variants(name: str) -> list[str]:
    """Other normalized forms people type for a name, without the name's own form.

    Apostrophes or symbols dropped, a leading "the" dropped, "and" for "&", "s" for "$",
    "i" for "!".
    A bare name left after "the" must be a real name: ≥ 4 characters and not a stopword,
    else "who" would mean The Who and "band" The Band.

    >>> name_variants("Destiny's Child"), name_variants("The Beatles")
    (['destinys child'], ['beatles'])
    >>> name_variants("Simon & Garfunkel"), name_variants("Ke$ha"), name_variants("P!nk")
    (['simon and garfunkel'], ['kesha'], ['pink'])
    >>> name_variants("The Who"), name_variants("The Band"), name_variants("Adele")
    ([], [], [])
    """
    key = normalize_query(name)
    out = [normalize_query(without_apostrophes(name)), normalize_query(without_symbols(name))]
    tokens = key.split(" ")
    rest = " ".join(tokens[1:])
    bare_ok = len(rest) >= MIN_BARE_NAME_CHARS and rest not in STOPWORDS
    if len(tokens) > 1 and tokens[0] == "the" and bare_ok:
        out.append(rest)
    if "&" in name:
        out.append(normalize_query(name.replace("&", " and ")))
    if "$" in name or "!" in name:
        out.append(normalize_query(name.replace("$", "s").replace("!", "i")))
    return [v for v in dict.fromkeys(out) if v and v != key]
