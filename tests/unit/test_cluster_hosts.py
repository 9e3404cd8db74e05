"""Several hosts behind one engine (`--cluster URL1,URL2,...`), on fake hosts that answer like a
node (or refuse, or answer 503): requests spread over the live hosts, a dead host's request is
sent to a live one, the breaker counts only what no host could answer, health names each
host, and every URL's password is masked. The real 3-node cluster: tests/integration/test_multinode.py."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from es_ltrr.common.redact import redact_url, split_urls, url_passwords
from es_ltrr.common.settings import Settings
from es_ltrr.retrieval.engines.clients import ElasticsearchEngine, OpenSearchEngine, hosts_of
from es_ltrr.retrieval.engines.cluster import ClusterError

from ..servers import free_port

MSEARCH = {"took": 1, "responses": [{"hits": {"total": {"value": 1}, "hits": [{"_id": "a", "_score": 1.0}]},
                                     "status": 200}]}


class FakeHost:
    """A node's HTTP answers on 127.0.0.1 (`status` 200 or an error), counting requests."""

    def __init__(self, status: int = 200, delay_s: float = 0.0):
        self.status, self.requests, self.delay_s = status, 0, delay_s
        host = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                host.requests += 1
                if host.delay_s:
                    time.sleep(host.delay_s)  # a node that answers too late (a cold JVM rejoining)
                if host.status != 200:
                    body = {"error": {"type": "cluster_block_exception", "reason": "no cluster manager"},
                            "status": host.status}
                elif "_msearch" in self.path:
                    body = MSEARCH
                elif "_cluster/health" in self.path:
                    body = {"status": "yellow", "number_of_nodes": 2}
                elif "_count" in self.path:
                    body = {"count": 7}
                else:
                    body = {"version": {"number": "8.19.21"}}
                data = json.dumps(body).encode()
                self.send_response(host.status)
                self.send_header("content-type", "application/json")
                self.send_header("x-elastic-product", "Elasticsearch")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hosts():
    made = [FakeHost(), FakeHost()]
    yield made
    for host in made:
        host.close()


ENGINES = [OpenSearchEngine, ElasticsearchEngine]


def _dead() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused


@pytest.mark.parametrize("cls", ENGINES, ids=["opensearch", "elasticsearch"])
def test_requests_spread_over_live_hosts_and_a_dead_hosts_go_to_a_live_one(cls, hosts):
    engine = cls(",".join([_dead(), hosts[0].url, hosts[1].url]), "music", timeout_s=5)
    for _ in range(12):
        responses = engine.msearch([{"query": {"match_all": {}}}])
        assert responses[0]["hits"]["hits"][0]["_id"] == "a", responses
    assert hosts[0].requests >= 3 and hosts[1].requests >= 3, (hosts[0].requests, hosts[1].requests)
    assert engine.breaker.failures == 0 and not engine.breaker.is_open
    health = engine.health()
    assert health["status"] == "yellow" and health["nodes"] == 2 and health["docs"] == 7
    assert [h["alive"] for h in health["hosts"]] == [False, True, True]


@pytest.mark.parametrize("cls", ENGINES, ids=["opensearch", "elasticsearch"])
def test_a_503_from_one_host_is_answered_by_another(cls, hosts):
    refusing = FakeHost(status=503)
    try:
        engine = cls(f"{refusing.url},{hosts[0].url}", "music", timeout_s=5)
        for _ in range(4):
            assert "error" not in engine.msearch([{"query": {"match_all": {}}}])[0]
        assert refusing.requests >= 1 and engine.breaker.failures == 0
    finally:
        refusing.close()


@pytest.mark.parametrize("cls", ENGINES, ids=["opensearch", "elasticsearch"])
def test_a_call_that_times_out_on_one_host_is_answered_by_another(cls, hosts):
    """With several hosts a timed-out call goes to the next host (one host's timeout is final)."""
    slow = FakeHost(delay_s=3.0)
    try:
        engine = cls(f"{slow.url},{hosts[0].url}", "music", timeout_s=1)
        for _ in range(4):
            assert engine.request("GET", "/music/_count", timeout_s=1)["count"] == 7
        assert slow.requests >= 1 and engine.breaker.failures == 0
        single = cls(slow.url, "music", timeout_s=1)
        with pytest.raises(ClusterError):
            single.request("GET", "/music/_count", timeout_s=1)
    finally:
        slow.close()


@pytest.mark.parametrize("cls", ENGINES, ids=["opensearch", "elasticsearch"])
def test_the_breaker_counts_only_calls_no_host_could_answer(cls):
    engine = cls(f"{_dead()},{_dead()},{_dead()}", "music", timeout_s=2)
    item = engine.msearch([{"query": {"match_all": {}}}])[0]
    assert item["status"] == 502 and "failed" in item["error"]["reason"]
    assert engine.breaker.failures == 1  # one call, every host tried, one failure
    health = engine.health()
    assert health["status"] == "red" and [h["alive"] for h in health["hosts"]] == [False] * 3


def test_a_single_host_reports_no_host_list(hosts):
    engine = OpenSearchEngine(hosts[0].url, "music", timeout_s=5)
    assert "hosts" not in engine.health() and engine.hosts() == [{"url": hosts[0].url, "alive": True}]


def test_the_host_list_is_checked_and_every_password_masked():
    assert hosts_of(" http://a:1, https://u:p,w@b:2 ") == ["http://a:1", "https://u:p,w@b:2"]
    with pytest.raises(ValueError, match="not a URL: b:9200"):
        hosts_of("http://a:9200,b:9200")
    with pytest.raises(ValueError, match="expected http"):
        hosts_of(" , ")
    urls = "https://elastic:pw-one-1@h1:9200,https://elastic:pw-two-2@h2:9200"
    assert redact_url(urls) == "https://elastic:***@h1:9200,https://elastic:***@h2:9200"
    assert url_passwords(urls) == ["pw-one-1", "pw-two-2"] and split_urls(urls) == urls.split(",")
    settings = Settings.load(env={"ES_LTRR_CLUSTER_URL": urls})
    assert settings.cluster_url == urls  # the list stays one setting, split by the engine


def test_errors_name_every_host_with_passwords_masked():
    urls = f"http://elastic:pw-one-1@127.0.0.1:{free_port()},http://elastic:pw-two-2@127.0.0.1:{free_port()}"
    engine = OpenSearchEngine(urls, "music", timeout_s=2)
    with pytest.raises(ClusterError) as caught:
        engine.request("GET", "/_cluster/health")
    message = str(caught.value) + repr(engine.health())
    assert "pw-one-1" not in message and "pw-two-2" not in message and "elastic:***@127.0.0.1" in message
