"""`es-ltrr serve` stops cleanly — exit 0, the folded policy state saved — on SIGTERM (what
service managers send) and on SIGINT even when it was started with SIGINT ignored (any
process started in the background by a non-interactive shell)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from ..servers import Server, free_port, post_json

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_saves_its_state_and_exits_on_a_stop_signal(small_catalog, tmp_path, monkeypatch, stop):
    data = tmp_path / "d"
    base = [sys.executable, "-m", "es_ltrr.cli", "--catalog", str(small_catalog), "--data-dir", str(data), "--no-embed"]
    subprocess.run([*base, "index"], check=True, capture_output=True, timeout=300)
    real_popen = subprocess.Popen

    def popen_with_sigint_ignored(*args, **kwargs):  # as `cmd &` in a script starts it
        return real_popen(*args, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN), **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen_with_sigint_ignored)
    server = Server(base, free_port())
    monkeypatch.undo()
    try:
        page = post_json(f"{server.url}/search", {"query": "rock"})[1]
        status, _ = post_json(f"{server.url}/feedback", {"query_id": page["impression_id"], "action_name": "play",
                                                     "object_id": page["hits"][0]["id"]})
        assert status == 200
        server.process.send_signal(stop)
        assert server.process.wait(timeout=30) == 0
    finally:
        if server.process.poll() is None:
            server.process.kill()
    assert (data / "policy" / "thompson.json").is_file()  # atexit ran: the state was saved
