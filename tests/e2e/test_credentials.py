"""Cluster credentials are never printed or logged: real `es-ltrr` processes given a password
(in the cluster URL, or --username with ES_LTRR_PASSWORD) and bearer tokens, against a port
where no cluster answers so every call fails and reports; stdout, stderr (where the log
goes) and the serving process's output are searched for the secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from es_ltrr.common.redact import redact_url

from ..servers import free_port

PASSWORD = "Pw-" + "7c1e9a" * 4
TOKEN = "Tk-" + "5d2b8f" * 4


@pytest.fixture(scope="module")
def base(small_catalog, tmp_path_factory):
    """The CLI on an indexed data dir (embedded build: it holds the manifest a cluster run needs)."""
    command = [sys.executable, "-m", "es_ltrr.cli", "--catalog", str(small_catalog),
               "--data-dir", str(tmp_path_factory.mktemp("credentials") / "d"), "--no-embed"]
    subprocess.run([*command, "index"], check=True, capture_output=True, timeout=120)
    return command


def _env(**more: str) -> dict:
    return {**os.environ, "ES_LTRR_ADMIN_TOKEN": TOKEN, **more}


def _run(command: list[str], env: dict) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode != 0, f"{command[-3:]} should fail against a port with no cluster"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout + done.stderr


URL_COMMANDS = (["apply"], ["--flavor", "opensearch", "index"], ["--flavor", "elasticsearch", "search", "love"],
                ["parity", "--queries", "2"])


@pytest.mark.slow
@pytest.mark.parametrize("how,commands", [("url", URL_COMMANDS), ("username", URL_COMMANDS[1:3])])
def test_cli_commands_never_print_the_password(base, how, commands):
    port = free_port()
    if how == "url":
        cluster, env = ["--cluster", f"http://elastic:{PASSWORD}@127.0.0.1:{port}"], _env()
    else:
        cluster, env = ["--cluster", f"http://127.0.0.1:{port}", "--username", "elastic"], _env(ES_LTRR_PASSWORD=PASSWORD)
    outputs = [_run([*base, *cluster, *command], env) for command in commands]
    text = "\n".join(outputs)
    assert f"127.0.0.1:{port}" in text  # the errors name the cluster...
    assert PASSWORD not in text and TOKEN not in text  # ...never its password
    if how == "url":
        assert f"elastic:***@127.0.0.1:{port}" in text


@pytest.mark.slow
def test_a_serving_process_never_logs_the_password(base, tmp_path):
    port, cluster_port = free_port(), free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*base, "--cluster", f"http://elastic:{PASSWORD}@127.0.0.1:{cluster_port}", "--flavor", "opensearch",
             "serve", "--port", str(port), "--fold-interval", "0.2"],
            stdout=out, stderr=subprocess.STDOUT, env=_env())
    try:
        url = f"http://127.0.0.1:{port}"
        health = _wait(url, process, log)
        assert health["status"] == "degraded" and f"127.0.0.1:{cluster_port}" in health["engine"]["error"]
        request = urllib.request.Request(f"{url}/search", json.dumps({"query": "love"}).encode(),
                                         {"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as unavailable:  # no arm can search: 503, not an empty page
            urllib.request.urlopen(request, timeout=30)
        assert unavailable.value.code == 503
        page = json.loads(unavailable.value.read())
        assert page["error"]["arms"] and all(arm["error"] for arm in page["error"]["arms"])
        for token in (TOKEN, "wrong-" + TOKEN):  # the admin API with the right and a wrong token
            state = urllib.request.Request(f"{url}/admin/state", headers={"Authorization": f"Bearer {token}"})
            try:
                urllib.request.urlopen(state, timeout=30).read()
            except urllib.error.HTTPError as exc:
                exc.read()
        time.sleep(0.5)  # a few background folds, each failing against the missing cluster
    finally:
        process.terminate()
        process.wait(timeout=30)
    text = log.read_text() + json.dumps(health) + json.dumps(page)
    assert "failed" in text  # errors were reported...
    assert PASSWORD not in text and TOKEN not in text  # ...without the secrets


def _wait(url: str, process: subprocess.Popen, log) -> dict:
    """/healthz once the server answers (503 when its cluster is down is an answer)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())
        except OSError:
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
    raise AssertionError(f"the server did not start: {log.read_text()}")


def test_settings_and_urls_are_redacted():
    from es_ltrr.common.settings import Settings

    settings = Settings.load(env={"ES_LTRR_PASSWORD": PASSWORD, "ES_LTRR_API_TOKEN": TOKEN})
    assert settings.password == PASSWORD and PASSWORD not in repr(settings) and TOKEN not in repr(settings)
    assert redact_url(f"https://u:{PASSWORD}@h:9200/p") == "https://u:***@h:9200/p"
    assert redact_url(f"https://:{PASSWORD}@h") == "https://***@h"


def test_the_log_scrubber_masks_registered_secrets(caplog):
    import logging

    from es_ltrr.common.redact import install_log_scrubber, register, scrub

    register(PASSWORD)
    install_log_scrubber()
    log = logging.getLogger("some.library")
    with caplog.at_level(logging.DEBUG):
        log.warning("connecting to http://u:%s@h", PASSWORD)
        try:
            raise ConnectionError(f"refused: {PASSWORD}")
        except ConnectionError:
            log.exception("failed")
    # a malformed log call stays logging's own error at emit time: making the record never raises
    record = logging.getLogRecordFactory()("x", logging.WARNING, __file__, 1, "bad %s %s", ("one",), None)
    assert record.msg == "bad %s %s"
    assert PASSWORD not in caplog.text and "http://u:***@h" in caplog.text and "refused: ***" in caplog.text
    assert scrub(f"x {PASSWORD} y") == "x *** y"
