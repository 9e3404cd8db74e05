"""`es-ltrr bench`: its tables parse (stages, QPS, the per-arm costs) and stay clean."""

from __future__ import annotations

import logging

from es_ltrr.catalog import load_catalog
from es_ltrr.ops.bench.latency import ArmCost, BenchReport, Scenario, arm_costs, quiet_waitress, sample_queries


def _report() -> BenchReport:
    base = Scenario("baseline: lexical only", client_ms=[5.0, 7.0], wall_s=0.1,
                    stages={"retrieve": [2.0, 4.0], "total": [3.0, 5.0]})
    arms = [ArmCost("lexical", wall_ms=[1.0, 3.0], took_ms=[1.0, 2.0]),
            ArmCost("semantic", wall_ms=[2.0, 2.0], took_ms=[0.0, 1.0], errors=1)]
    return BenchReport([base], n_requests=2, concurrency=2, arms=arms)


def _rows(table: str, first: str) -> dict[str, list[str]]:
    """Rows of the tabulate table whose header starts with `first`, keyed by the first cell."""
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    rows = {}
    for line in lines[start + 2:]:
        if not line.strip() or line.startswith("("):
            break
        cells = line.split()
        rows[cells[0]] = cells[1:]
    return rows


def test_the_per_arm_table_parses():
    arms = _rows(_report().table(), "arm alone")
    assert arms["lexical"] == ["2", "0", "2.00", "2.98", "1.50", "1.99"]
    assert arms["semantic"][:2] == ["2", "1"]


def test_the_stage_table_and_json_carry_the_same_figures():
    report = _report()
    retrieve = next(line for line in report.table().splitlines() if " retrieve " in line)
    assert retrieve.split()[-3:] == ["retrieve", "3.00", "3.98"]
    data = report.to_dict()
    assert data["baseline: lexical only"]["p50_ms"]["retrieve"] == 3.0
    assert data["arms"]["lexical"]["took_p50_ms"] == 1.5 and data["arms"]["semantic"]["errors"] == 1


def test_waitress_queue_warnings_are_muted_during_the_bench_only(caplog):
    logger = logging.getLogger("waitress.queue")
    with caplog.at_level(logging.WARNING, logger="waitress.queue"):
        with quiet_waitress():
            logger.warning("Task queue depth is %d", 3)
        assert not caplog.records
        logger.warning("Task queue depth is %d", 4)
    assert [r.getMessage() for r in caplog.records] == ["Task queue depth is 4"]


def test_each_chosen_arm_is_timed_alone(small_searcher, small_catalog):
    queries = sample_queries(load_catalog(small_catalog), 5, seed=3)
    costs = {c.arm: c for c in arm_costs(small_searcher, queries)}
    assert {"lexical", "popular", "explore"} <= costs.keys() and "semantic" not in costs
    assert all(len(c.wall_ms) + c.errors == len(queries) for c in (costs["lexical"], costs["popular"]))
    assert costs["lexical"].wall_ms and all(ms > 0 for ms in costs["lexical"].wall_ms)


def test_the_bench_server_shuts_down_without_a_traceback():
    """`bench` closed its waitress server from another thread while the server's loop was in
    `select`: `OSError: [Errno 9] Bad file descriptor` from the loop's thread (issue 23, item 13).
    The loop now stops itself and closes the server in its own thread."""
    import threading
    import urllib.request

    from es_ltrr.ops.bench.latency import local_server

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    errors: list[BaseException] = []
    hook, threading.excepthook = threading.excepthook, lambda args: errors.append(args.exc_value)
    try:
        for _ in range(25):  # the race lost about 1 run in 20
            with local_server(app, threads=2) as url:
                assert urllib.request.urlopen(url, timeout=10).read() == b"ok"
    finally:
        threading.excepthook = hook
    assert errors == []
