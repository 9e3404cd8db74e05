"""Searches by clients in sessions, with their plays and skips, through a feedback loop: the
traffic the Q2E memory's rules are tested on (unit tests and the cluster test alike)."""

from __future__ import annotations

from es_ltrr.serving.contract import parse_search_request


def engage(searcher, loop, query: str, client: str | None = None, session: str | None = None,
           play: str | None = None, skip: str | None = None, plays: int = 1):
    """One search (logged) and its events: `plays` plays of `play`, a skip of `skip`; the
    SearchResult. Every event must be accepted."""
    body = {"query": query, **({"client_id": client} if client else {}), **({"session_id": session} if session else {})}
    result = searcher.search(parse_search_request(body))
    loop.log_search(result)
    events = [{"query_id": result.impression_id, "action_name": "play", "object_id": play,
               "event_id": f"{result.impression_id}-{n}"} for n in range(plays if play else 0)]
    if skip:
        events.append({"query_id": result.impression_id, "action_name": "skip", "object_id": skip})
    for start in range(0, len(events), 500):
        assert not loop.ingest(events[start:start + 500]).errors
    return result
