"""A real `es-ltrr serve` through a cluster outage, as its operator reads the log (issue 23,
item 3): the node behind a proxy the test cuts for a while. The log says once that the
cluster is failing and once that it recovered — no traceback, no line per fold or per
request — and the feedback sent meanwhile is learned from locally."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from es_ltrr.common.schema import MUSIC
from es_ltrr.common.settings import Settings
from es_ltrr.ops.apply import apply
from es_ltrr.retrieval.engines.factory import cluster_engine
from es_ltrr.retrieval.indexing import build_index

from ..servers import Proxy, free_port, post_json

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture
def alias(cluster_url, small_catalog, tmp_path):
    """The small catalog behind an alias of this test's own on the shared node (deleted after)."""
    name = f"es-ltrr-outage-{uuid.uuid4().hex[:8]}"
    settings = Settings.load(env={}, cluster_url=cluster_url, flavor="opensearch", index=name, embed=False,
                             catalog=small_catalog, data_dir=tmp_path / "d")
    engine = cluster_engine(settings)
    apply(engine, MUSIC, [], ltr=False, say=lambda _: None)
    build_index(settings, None, say=lambda _: None)
    yield name
    for index in engine.request("GET", f"/_alias/{name}"):
        engine.request("DELETE", f"/{index}")


def _health(url: str) -> dict:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def test_an_outage_is_two_lines_in_the_log_and_learning_goes_on(cluster_url, alias, small_catalog, tmp_path):
    proxy = Proxy(cluster_url.split("://", 1)[1].rstrip("/"))
    port = free_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "es_ltrr.cli", "--catalog", str(small_catalog), "--data-dir", str(tmp_path / "d"),
               "--no-embed", "--cluster", proxy.url, "--flavor", "opensearch", "--index", alias,
               "serve", "--port", str(port), "--fold-interval", "0.1", "--memory-interval", "0.5"]
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if _health(url).get("status"):
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        pages = [post_json(f"{url}/search", {"query": q})[1] for q in ("memories maroon 5", "love", "dance pop")]
        proxy.cut()
        outage = time.monotonic()
        played = 0
        for page in pages:  # feedback during the outage: acknowledged from the local log
            status, body = post_json(f"{url}/feedback", {"query_id": page["impression_id"], "action_name": "play",
                                                         "object_id": page["hits"][0]["id"]})
            assert status == 200, body
            played += body["accepted"]
        while time.monotonic() - outage < 12:  # > the breaker's 10 s cooldown: a probe fails too
            post_json(f"{url}/search", {"query": "love"})  # 503s, the breaker open
            time.sleep(0.5)
        assert _health(url)["status"] == "degraded"
        proxy.restore()
        deadline = time.monotonic() + 60
        while "recovered" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            post_json(f"{url}/search", {"query": "love"})
            time.sleep(0.5)
        assert post_json(f"{url}/search", {"query": "love"})[0] == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        proxy.cut()
    text = log.read_text()
    assert "Traceback" not in text, text
    cluster_lines = [line for line in text.splitlines() if "UBI mirror and sync" in line]
    assert len(cluster_lines) == 2, text  # failing, recovered
    assert "failing" in cluster_lines[0] and "recovered" in cluster_lines[1]
    assert len(text.splitlines()) < 30, text
    replayed = subprocess.run([sys.executable, "-m", "es_ltrr.cli", "--catalog", str(small_catalog), "--data-dir",
                               str(tmp_path / "d"), "--no-embed", "replay", "--json"], capture_output=True, text=True,
                              timeout=120)
    assert json.loads(replayed.stdout)["events"] >= played == 3
