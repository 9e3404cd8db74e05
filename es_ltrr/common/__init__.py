"""The floor every room stands on; it imports nothing else of es_ltrr.

* `analysis.py` — tokens, folding, Q2E keys (one analysis for engine, understanding and memory);
* `templating.py` — the safe mustache renderer (arm and feature templates);
* `schema.py` — one field list → the mappings of each flavor;
* `settings.py` — `Settings`, read once at the edge (flags > `ES_LTRR_*` > TOML > defaults);
* `datadir.py` — the one owner of what es-ltrr keeps on disk (paths, manifest, models, state);
* `redact.py` — credentials out of every message and log record;
* `extras.py` — optional dependencies: a missing one names the extra to install;
* `console.py` — status lines for people (stderr, secrets masked);
* `plots.py` — PNG files from matplotlib figures, written one way.
"""
