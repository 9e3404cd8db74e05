"""es-ltrr commands that search: `search` (and its table) and `render` (the body an arm sends)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from ..common.console import say
from ..common.datadir import DataDir
from ..retrieval.arms import ARMS
from ..search.request import MAX_K, MAX_QUERY_CHARS
from ..serving.contract import BadRequest, decode_json, parse_search_request, search_response
from .group import Ctx, fail, main, searcher_for, settings_options

if TYPE_CHECKING:
    from ..common.settings import Settings
    from ..search.pipeline import Searcher
    from ..search.record import SearchResult


@main.command(help=f"""Search the catalog and print the ranked hits.

QUERY has at most {MAX_QUERY_CHARS} characters (Unicode code points): a longer one is refused
with an error, never silently cut.""")
@click.argument("query")
@click.option("--k", default=10, show_default=True, help=f"Hits to return (1..{MAX_K}).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON response of POST /search.")
@click.option("--debug", is_flag=True, help="Include query understanding and per-arm results.")
@click.option("--context", "context_json", default=None, metavar="JSON", help="JSON object passed as the request context.")
@click.option("--client-id", default=None, metavar="ID", help="UBI client_id: who searches (the Q2E memory counts clients).")
@click.option("--session-id", default=None, metavar="ID",
              help="UBI session_id: searches of one session (a reformulation is the session's next search).")
@settings_options()
@click.pass_obj
def search(obj: Ctx, query: str, k: int, as_json: bool, debug: bool, context_json: str | None,
           client_id: str | None, session_id: str | None) -> None:
    try:
        context = _decode_context(context_json) if context_json else {}
        ids = {name: value for name, value in (("client_id", client_id), ("session_id", session_id)) if value is not None}
        request = parse_search_request({"query": query, "k": k, "context": context, "debug": debug, **ids})
    except BadRequest as exc:
        fail(str(exc))
    settings = obj.settings()
    searcher = searcher_for(obj, settings)
    result = searcher.search(request)
    _log_impression(settings, searcher, result)
    response = search_response(result)
    _report_arm_errors(response)
    if as_json:
        click.echo(json.dumps(response, ensure_ascii=False, indent=2))
    else:
        click.echo(format_table(response))


def _report_arm_errors(response: dict[str, Any]) -> None:
    """A page is served when some arms fail (a warning says which); when every arm that ran
    failed, the engine is unreachable or refused (a certificate, a password): an error."""
    ran = [a for a in response["arms"] if a.get("status") != "not_applicable"]
    failed = [a for a in ran if a.get("status") == "error"]
    if ran and len(failed) == len(ran):
        fail(f"every arm failed; {failed[0]['arm']}: {failed[0].get('error')}")
    for arm in failed:
        say(f"warning: arm {arm['arm']} failed: {arm.get('error')}")


def _log_impression(settings: Settings, searcher: Searcher, result: SearchResult) -> None:
    """Log the search as an impression — the way `serve` does, mirrored into the UBI indices
    on a cluster — so feedback can name its `impression_id` (a log that cannot be written is
    a warning: the answer is still printed)."""
    from ..common.datadir import DataDir
    from ..feedback import FeedbackLoop
    from ..feedback.store import StoreError

    try:
        loop = FeedbackLoop.open(DataDir(settings.data_dir), searcher.policy, engine=searcher.engine, fold=False)
        loop.log_search(result)
        loop.close()
    except StoreError as exc:
        say(f"warning: impression not logged: {exc}")


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def _decode_context(text: str) -> Any:
    """`--context` JSON; an error about its text or type names the flag, not the JSON field.

    `null` means no context, as in the HTTP request.
    """
    context = decode_json(text, "--context")
    if context is not None and not isinstance(context, dict):
        got = _JSON_TYPES.get(type(context), type(context).__name__)
        raise BadRequest(f"--context must be a JSON object, e.g. '{{\"market\": \"US\"}}' (got {got})")
    return context


def format_table(response: dict[str, Any]) -> str:
    """A readable page: rank, type, name (+ versions), artist, album, year, score and the
    arms that found each hit; the header says when the page holds only guesses."""
    from tabulate import tabulate

    rows = [
        [
            i,
            hit.get("type"),
            _clip(hit.get("name"), 40) + (f" (+{len(hit['variants'])})" if hit.get("variants") else ""),
            _clip(hit.get("artist") or "", 24),
            _clip(hit.get("album") or "", 24) if hit.get("type") == "track" else "",
            (hit.get("release_year") or "") if hit.get("type") in ("track", "album") else "",
            f"{hit['score']:.4f}",
            ",".join(f"{a['arm']}#{a['rank']}" for a in hit["arms"]),
        ]
        for i, hit in enumerate(response["hits"], start=1)
    ]
    arms = ", ".join(f"{a['arm']}({a['returned']}/{a['requested']})" for a in response["arms"])
    verdict = "no match: these are guesses" if response.get("no_match") else f"confidence {response.get('confidence', 0):.2f}"
    header = (
        f"query: {response['query']!r}   ranker: {response['ranker']}   "
        f"candidates: {response['candidates']}   {response['timings_ms']['total']:.1f} ms   {verdict}\narms: {arms}\n"
    )
    return header + tabulate(rows, headers=["#", "type", "name (+versions)", "artist", "album", "year", "score",
                                            "found by (arm#rank)"])


def _clip(text: Any, width: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _arms_help() -> str:
    """The arm registry as a help paragraph click does not rewrap (`\\b`)."""
    width = max(map(len, ARMS))
    return "\b\nARM is one of:\n" + "\n".join(f"  {name:<{width}}  {arm.description}" for name, arm in ARMS.items())


@main.command(help="Print the search body ARM sends for QUERY (exactly what reaches the engine).\n\n" + _arms_help())
@click.argument("arm")
@click.argument("query")
@click.option("--size", default=10, show_default=True, type=click.IntRange(1, 10_000), help="Candidates the arm draws.")
@click.option("--flavor", type=click.Choice(["embedded", "opensearch", "elasticsearch"]), default="opensearch", show_default=True,
              help="Whose syntax: the embedded engine's or a cluster flavor's (the semantic arm's kNN clause differs).")
@click.option("--memory", type=click.Choice(["rank_features", "sparse_vector"]), default="rank_features",
              show_default=True, help="How the cluster stores the Q2E memory (the q2e arm's clause): sparse_vector on "
              "an Elasticsearch without mapper-extras (`apply` says which).")
@click.option("--short-vectors", is_flag=True, help="Abbreviate query vectors in the output (not what is sent).")
@settings_options(skip=("--flavor",))
@click.pass_obj
def render(obj: Ctx, arm: str, query: str, size: int, flavor: str, memory: str, short_vectors: bool) -> None:
    from ..retrieval.arms import ArmInput
    from ..retrieval.embedding import Encoder
    from ..serving.wiring import query_tables
    from ..understanding import understand

    if arm not in ARMS:
        fail(f"unknown arm {arm!r}; arms: {', '.join(ARMS)}")
    try:
        query = parse_search_request({"query": query}).query
    except BadRequest as exc:
        fail(str(exc))
    settings = obj.settings()
    if not settings.catalog.exists() and not DataDir(settings.data_dir).exists():
        fail(f"catalog not found: {settings.catalog}")
    try:  # printing a body writes nothing: no engine, no index built, the data dir only read
        gazetteer, catalog = query_tables(settings, say)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    encoder = Encoder(cache_dir=settings.cache_dir) if settings.embed and ARMS[arm].needs_vector else None
    vector = encoder.encode_query(query) if encoder else None
    inp = ArmInput(query, understand(query, gazetteer), vector, 0, catalog, memory=memory)
    body = ARMS[arm].render(inp, size, flavor)
    if body is None:
        fail(f"arm {arm!r} does not apply to {query!r} (no slots / no vector / empty key)")
    if short_vectors:
        body = _shorten_vectors(body)
    click.echo(json.dumps(body, indent=2, ensure_ascii=False))


def _shorten_vectors(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _shorten_vectors(v) for k, v in node.items()}
    if isinstance(node, list):
        if len(node) > 16 and all(isinstance(x, float) for x in node):
            return node[:3] + [f"... {len(node)} floats"]
        return [_shorten_vectors(v) for v in node]
    return node
