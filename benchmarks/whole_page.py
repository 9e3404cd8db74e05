"""Whole-page precision@10 per intent on the shipped catalog (embedded engine).

    python benchmarks/whole_page.py [--data-dir DIR] [--no-embed] [--per-query]

Builds the index on first use (like `es-ltrr search`), runs the 64 queries of
`es_ltrr.evaluation.whole_page.QUERIES` and prints precision@10 per intent — the figure
issue 10's closing note and docs/quality.md report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tabulate import tabulate

from es_ltrr.catalog import load_catalog
from es_ltrr.common.settings import Settings
from es_ltrr.evaluation.whole_page import evaluate
from es_ltrr.serving.contract import parse_search_request, search_response
from es_ltrr.serving.wiring import build_searcher


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, help="data dir (default: the configured one)")
    parser.add_argument("--no-embed", action="store_true", help="without the semantic arm")
    parser.add_argument("--per-query", action="store_true", help="also print every query's precision")
    args = parser.parse_args(argv)
    overrides = {"data_dir": args.data_dir, "embed": False if args.no_embed else None}
    settings = Settings.load(**overrides)
    searcher = build_searcher(settings, say=lambda m: print(m, file=sys.stderr))
    entities = load_catalog(settings.catalog)

    def search(query: str):
        response = search_response(searcher.search(parse_search_request({"query": query, "k": 10})))
        return response["hits"], bool(response.get("no_match"))

    report = evaluate(search, entities)
    if args.per_query:
        print(tabulate(sorted(report.per_query.items()), headers=["query", "P@10"], floatfmt=".2f"))
        print()
    print(tabulate(report.rows(), headers=["intent", "queries", "P@10"], floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
