"""The admin API and bearer tokens, end to end: the app `es-ltrr serve` runs (`build_app`:
searcher, feedback loop, model follower) on a small slice of the real catalog."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from es_ltrr.common.datadir import DataDir
from es_ltrr.common.settings import Settings
from es_ltrr.feedback.loop import replay
from es_ltrr.feedback.store import FeedbackStore
from es_ltrr.serving.access import Access, TokenError, load_access
from es_ltrr.serving.process import build_app

ADMIN = "admin-" + "a1b2c3d4e5f6" * 3
API = "api-" + "f6e5d4c3b2a1" * 3
WRONG = "wrong-" + "0" * 30


def _save_model(data: DataDir, name: str) -> None:
    import xgboost as xgb

    from es_ltrr.ranking.ltr import LtrModel, default_featureset

    fs = default_featureset()
    x = np.random.default_rng(0).random((20, len(fs.names)))
    booster = xgb.train({}, xgb.DMatrix(x, label=x[:, 0], feature_names=fs.names), 2)
    LtrModel(booster, fs, name).save(data.model_dir(name))


def _app(small_catalog, data_dir, **tokens):
    # no model guard: its interleaving of a random 5 % of searches would make the ranker a search
    # reports depend on chance (the guard has its own test, tests/e2e/test_local_ltr.py)
    settings = Settings.load(env={}, catalog=small_catalog, data_dir=data_dir, embed=False, model_guard_share=0.0,
                             **tokens)
    return build_app(settings, say=lambda _: None, fold_interval_s=3600, memory_interval_s=3600)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("admin")


@pytest.fixture(scope="module")
def client(small_catalog, data_dir):
    return _app(small_catalog, data_dir, admin_token=ADMIN, api_token=API).test_client()


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _search(client, query="memories maroon 5", token=API):
    return client.post("/search", data=json.dumps({"query": query}), content_type="application/json",
                       headers=_auth(token) if token else {})


ADMIN_ROUTES = [("post", "/admin/models/activate"), ("post", "/admin/models/rollback"), ("post", "/admin/policy/reset"),
                ("post", "/admin/reindex"), ("get", "/admin/reindex"), ("get", "/admin/state")]


@pytest.mark.parametrize("method,path", ADMIN_ROUTES)
def test_without_an_admin_token_the_admin_api_is_off(small_searcher, method, path):
    from es_ltrr.serving.http import create_app

    client = create_app(small_searcher).test_client()
    resp = getattr(client, method)(path, headers=_auth(WRONG))
    assert resp.status_code == 403
    assert "admin API disabled: configure a token" in resp.get_json()["error"]["message"]


@pytest.mark.parametrize("method,path", ADMIN_ROUTES)
@pytest.mark.parametrize("headers", [{}, _auth(WRONG), _auth(API), {"Authorization": ADMIN},
                                     {"Authorization": f"Basic {ADMIN}"}, _auth(ADMIN + "x"), _auth(ADMIN[:-1])])
def test_a_missing_or_wrong_admin_token_is_401_with_the_scheme(client, method, path, headers):
    resp = getattr(client, method)(path, headers=headers, data="{}", content_type="application/json")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert ADMIN not in resp.get_data(as_text=True)


def test_the_api_token_guards_search_and_feedback_not_healthz(client):
    assert _search(client, token=None).status_code == 401
    assert _search(client, token=WRONG).status_code == 401
    assert _search(client, token=ADMIN).status_code == 401  # tokens are not interchangeable
    assert _search(client).status_code == 200
    feedback = client.post("/feedback", data="{}", content_type="application/json")
    assert feedback.status_code == 401 and feedback.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/healthz").status_code == 200


def test_state_export(client):
    _search(client)
    body = client.get("/admin/state", headers=_auth(ADMIN)).get_json()
    assert body["active_model"] is None and body["ranker"] == "rrf"
    assert body["policy"]["policy"] == "thompson" and "learned" in body["policy"]
    assert body["log"]["impressions"] >= 1 and body["log"]["log_seq"] == body["policy"]["log_seq"]


def test_activate_and_roll_back_a_model(client, data_dir):
    data = DataDir(data_dir)
    _save_model(data, "m1")
    resp = client.post("/admin/models/activate", data=json.dumps({"name": "m1"}), headers=_auth(ADMIN),
                       content_type="application/json")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"active": "m1", "previous": None, "ranker": "xgboost"}
    assert data.active_model().name == "m1"
    assert _search(client).get_json()["ranker"].startswith("xgboost")  # at once, no restart
    guard = client.get("/admin/state", headers=_auth(ADMIN)).get_json()["guard"]
    assert not guard["trusted"] and "ranker changed to xgboost:m1" in guard["reason"]  # the policy proves itself again
    resp = client.post("/admin/models/rollback", headers=_auth(ADMIN))
    assert resp.status_code == 200 and resp.get_json() == {"active": None, "ranker": "rrf"}
    assert data.active_model() is None and _search(client).get_json()["ranker"] == "rrf"
    nothing = client.post("/admin/models/rollback", headers=_auth(ADMIN))
    assert nothing.status_code == 409 and "nothing to roll back" in nothing.get_json()["error"]["message"]


@pytest.mark.parametrize("body,status,message", [
    ({"name": "no-such-model"}, 404, "no model 'no-such-model'"),
    ({"name": "../etc"}, 400, "invalid model name"),
    ({"name": "m" * 300}, 400, "invalid model name"),  # longer than a file name may be
    ({"name": "m\u0000"}, 400, "invalid model name"),
    ({"name": ""}, 400, '{"name": "<model name>"}'),
    ({"model": "m1"}, 400, '{"name": "<model name>"}'),
    (["m1"], 400, '{"name": "<model name>"}'),
    ("{not json", 400, "JSON"),
])
def test_bad_activations_are_clear_4xx(client, body, status, message):
    data = body if isinstance(body, str) else json.dumps(body)
    resp = client.post("/admin/models/activate", data=data, headers=_auth(ADMIN), content_type="application/json")
    assert resp.status_code == status
    assert message in resp.get_json()["error"]["message"]


def test_a_model_that_cannot_load_is_refused_and_nothing_changes(client, data_dir):
    data = DataDir(data_dir)
    data.model_dir("broken").mkdir(parents=True)
    (data.model_dir("broken") / "model.json").write_text("{}")
    resp = client.post("/admin/models/activate", data=json.dumps({"name": "broken"}), headers=_auth(ADMIN),
                       content_type="application/json")
    assert resp.status_code == 422 and "cannot serve" in resp.get_json()["error"]["message"]
    assert data.active_model() is None and _search(client).get_json()["ranker"] == "rrf"


def test_policy_reset_keeps_a_backup_and_replays(client, data_dir):
    page = _search(client, "ed sheeran").get_json()
    event = {"action_name": "click", "query_id": page["impression_id"], "event_attributes": {
        "object": {"object_id": page["hits"][0]["id"], "object_id_field": "id"}}}
    assert client.post("/feedback", data=json.dumps(event), content_type="application/json",
                       headers=_auth(API)).get_json()["accepted"] == 1
    data = DataDir(data_dir)
    before = client.get("/admin/state", headers=_auth(ADMIN)).get_json()["policy"]
    resp = client.post("/admin/policy/reset", headers=_auth(ADMIN))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["policy"] == "thompson" and body["log_seq"] >= 1
    after = client.get("/admin/state", headers=_auth(ADMIN)).get_json()["policy"]
    assert after["learned"] != before["learned"] and after["log_from"] == after["log_seq"] == body["log_seq"]
    if body["backup"]:  # the state had been saved before: kept beside the new one
        assert (data.policy_state_path("thompson").parent / body["backup"]).is_file()
    saved = data.policy_state("thompson")
    assert saved["log_from"] == body["log_seq"] and saved["learned"] == after["learned"]
    # the reset state is what the log replays to from its new start
    from es_ltrr.serving.wiring import make_policy

    fresh = make_policy("thompson")
    replay(FeedbackStore(data.feedback_log), fresh, saved["log_seq"], saved["log_from"])
    assert fresh.state()["learned"] == saved["learned"]


def test_a_second_reset_keeps_the_first_backup(client, data_dir):
    first = client.post("/admin/policy/reset", headers=_auth(ADMIN)).get_json()["backup"]
    second = client.post("/admin/policy/reset", headers=_auth(ADMIN)).get_json()["backup"]
    assert first and second and first != second
    folder = DataDir(data_dir).policy_state_path("thompson").parent
    assert (folder / first).is_file() and (folder / second).is_file()


def test_reindex_runs_in_the_background_and_swaps_the_index(client):
    resp = client.post("/admin/reindex", headers=_auth(ADMIN))
    assert resp.status_code == 202 and resp.get_json()["reindex"]["state"] == "running"
    again = client.post("/admin/reindex", headers=_auth(ADMIN))
    assert again.status_code in (202, 409)  # 409 while the first runs (a tiny catalog may be done)
    deadline = time.monotonic() + 120
    while (status := client.get("/admin/reindex", headers=_auth(ADMIN)).get_json()["reindex"])["state"] == "running":
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["state"] == "done" and status["docs"] > 100, status
    assert _search(client).get_json()["hits"]


def test_tokens_never_reach_the_logs(small_catalog, tmp_path, caplog):
    client = _app(small_catalog, tmp_path / "d", admin_token=ADMIN, api_token=API).test_client()
    with caplog.at_level(logging.DEBUG):
        for token in (ADMIN, API, WRONG, ADMIN[:-1]):
            _search(client, token=token)
            client.get("/admin/state", headers=_auth(token))
            client.post("/admin/models/activate", data=json.dumps({"name": token}), headers=_auth(token),
                        content_type="application/json")
            client.post("/admin/policy/reset", headers=_auth(token))
    assert "admin: policy thompson reset" in caplog.text  # what was done is logged, who did it is not
    assert ADMIN not in caplog.text and API not in caplog.text and ADMIN[:-1] not in caplog.text
    assert ADMIN not in repr(Access(ADMIN, API)) and ADMIN not in repr(Settings.load(env={}, admin_token=ADMIN))


def test_token_files(tmp_path):
    path = tmp_path / "admin.token"
    path.write_text(ADMIN + "\n")
    path.chmod(0o600)
    warnings: list[str] = []
    access = load_access(None, path, None, None, warnings.append)
    assert access.admin_allows(f"Bearer {ADMIN}") and not access.api_protected and not warnings
    path.chmod(0o644)
    load_access(None, path, None, None, warnings.append)
    assert len(warnings) == 1 and "readable by other users" in warnings[0] and ADMIN not in warnings[0]
    # the environment's value wins over a file
    assert load_access(API, path, None, None, warnings.append).admin_allows(f"Bearer {API}")
    short = tmp_path / "short.token"
    short.write_text("Zq7-short")
    with pytest.raises(TokenError, match="at least 16 characters") as info:
        load_access(None, short, None, None, warnings.append)
    assert "Zq7-short" not in str(info.value)
    with pytest.raises(TokenError, match="cannot read token file"):
        load_access(None, tmp_path / "missing", None, None, warnings.append)


def test_serve_refuses_a_bad_token_file(small_catalog, tmp_path):
    from click.testing import CliRunner

    from es_ltrr.cli import main

    bad = tmp_path / "t"
    bad.write_text("short")
    result = CliRunner().invoke(main, ["--catalog", str(small_catalog), "--data-dir", str(tmp_path / "d"),
                                       "--no-embed", "serve", "--admin-token-file", str(bad)])
    assert result.exit_code == 2 and "at least 16 characters" in result.output
    assert not (tmp_path / "d").exists()  # refused before any indexing


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=300),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                    max_leaves=10)


@given(body=st.one_of(JSON, st.fixed_dictionaries({"name": st.text(max_size=400)})))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_activation_body_is_an_answer_not_a_500(client, body):
    resp = client.post("/admin/models/activate", data=json.dumps(body), headers=_auth(ADMIN),
                       content_type="application/json")
    assert resp.status_code in (200, 400, 404, 422), resp.get_json()
