"""Lexical BM25 over names, artist, album and description, fuzzy for misspellings.

Fuzziness and the trigram clause are on only when the understanding sees a likely
misspelling (`Understanding.misspelled`, see `base.spelling_params`): on a cluster they are
most of the arm's cost, and most queries are spelled right.

The trigram clause needs a quarter of the query's trigrams in one field: a misspelt name
shares about half of its grams with the right one, while a nonsense word shares one or two
with some name among 60k ("qwpoeiru" and "Mg Poet" share "poe"). The `symbols` clause
matches emoji and other symbols ("🔥🔥🔥" → playlists with 🔥 in their names).
"""

from .base import Arm, text_params

ARM = Arm(
    "lexical",
    "lexical",
    text_params,
    default_depth=50,
    description="BM25 best_fields over name/artist/album/description, fuzzy + trigram when misspelt, symbols, exact name",
)
