"""One search, top to bottom: `pipeline.py` (`Searcher.search`) is the whole path.

* `request.py` — `SearchRequest`, what a search is asked for, and its limits;
* `pipeline.py` — understand → choose → embed → render → retrieve → union → rank → collapse → confidence;
* `record.py` — `SearchResult`, the typed record of a served search that every learner reads;
* `collapse.py` — one hit per work (versions become variants);
* `confidence.py` — how sure a page is, and `no_match`.
"""
