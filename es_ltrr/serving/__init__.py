"""The sidecar process and its HTTP API.

* `wiring.py` — settings → engine, gazetteer, encoder, policy, ranker → a ready `Searcher`
  (shared by the CLI and the server, so they never disagree about configuration);
* `contract.py` — the public `/search` contract: request validation and the response JSON;
* `http.py` — the Flask application factory (`/search`, `/feedback`, `/healthz`);
* `responses.py` — JSON bodies and errors, one shape for every route;
* `admin.py` — the `/admin` blueprint; `access.py` — bearer tokens;
* `process.py` — `es-ltrr serve`: waitress or gunicorn processes, each folding the feedback log.
"""
