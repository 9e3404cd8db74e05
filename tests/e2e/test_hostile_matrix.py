"""The hostile-input matrix: every HTTP route × method × bad body, every field of `POST /search`
and `POST /feedback` with every wrong type, generated events and requests (hypothesis), every
CLI command's options with bad values, and malformed catalog, judgment and model files.

HTTP: every answer is < 500, JSON with an error message when it is an error, and never a
traceback. CLI: exit 1 or 2 with a message, never a traceback. Files: the good rows load, the
bad ones are reported by line, or the file is refused with a message naming it.

Routes come from `app.url_map`, so routes added later (the /admin blueprint) join the matrix
by themselves. Every case is tallied (`tests/hostile.py`); the session ends with
"hostile input: N cases (...); 5xx: 0".
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from es_ltrr.catalog import read_jsonl, read_spotify
from es_ltrr.catalog.entities import AUDIO_FEATURES
from es_ltrr.cli import main
from es_ltrr.common.schema import MUSIC
from es_ltrr.feedback import FeedbackLoop, FeedbackStore
from es_ltrr.feedback.events import _FIELDS as EVENT_FIELDS
from es_ltrr.ranking.ltr.training import read_ranklib
from es_ltrr.retrieval.policy import ThompsonPolicy
from es_ltrr.serving.contract import parse_search_request
from es_ltrr.serving.http import MAX_FEEDBACK_BYTES, create_app

from ..hostile import CHARS, CONTEXTS, TEXT, tally

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "spotify_small.csv"
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
JSON_TYPE = "application/json"
TOKEN = "hostile-matrix-token-" + "x" * 16
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+")

#: Values of every JSON type (and the non-standard ones Python's decoder takes) for any field.
WRONG = [None, True, False, 0, -1, 1.5, 2**64, -(2**63), "", " ", "x", "\x00", "\u202e", "9" * 400, [], [1],
         {}, {"a": 1}, float("nan"), float("inf"), float("-inf"), 1e308]

#: (name, raw body, content type) sent to every route with every method.
BODIES: list[tuple[str, bytes, str | None]] = [
    ("empty", b"", None),
    ("empty json", b"", JSON_TYPE),
    ("broken json", b"{not json", JSON_TYPE),
    ("truncated", b'{"query": "a"', JSON_TYPE),
    ("not utf-8", b"\xff\xfe\x00garbage", JSON_TYPE),
    ("utf-16", '{"query": "a"}'.encode("utf-16"), JSON_TYPE),
    ("null", b"null", JSON_TYPE),
    ("array", b"[]", JSON_TYPE),
    ("string", b'"query"', JSON_TYPE),
    ("NaN", b"NaN", JSON_TYPE),
    ("-Infinity", b"-Infinity", JSON_TYPE),
    ("NaN field", b'{"query": NaN, "k": Infinity}', JSON_TYPE),
    ("huge number", b'{"query": "a", "k": 1e999}', JSON_TYPE),
    ("long integer", b'{"query": "a", "k": ' + b"9" * 5000 + b"}", JSON_TYPE),
    ("deep arrays", b"[" * 50_000 + b"]" * 50_000, JSON_TYPE),
    ("deep objects", b'{"a":' * 20_000 + b"1" + b"}" * 20_000, JSON_TYPE),
    ("NUL bytes", b"\x00" * 64, JSON_TYPE),
    ("oversized", b'{"query": "' + b"a" * (MAX_FEEDBACK_BYTES + 10) + b'"}', JSON_TYPE),
    ("text/plain", b'{"query": "a"}', "text/plain"),
    ("form", b"query=a&k=1", "application/x-www-form-urlencoded"),
    ("multipart", b"--x\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\na\r\n--x--", "multipart/form-data; boundary=x"),
    ("bad multipart", b"garbage", "multipart/form-data"),
    ("bad charset", b'{"query": "a"}', "application/json; charset=klingon"),
    ("unknown fields", b'{"query": "a", "__proto__": {}, "constructor": 1}', JSON_TYPE),
]

#: Authorization headers a hostile client sends (none, wrong, malformed).
HOSTILE_AUTH = [{}, {"Authorization": "Bearer wrong-token-but-long-enough-xx"}, {"Authorization": "Basic !!!"},
                {"Authorization": "Bearer"}, {"Authorization": "bearer " + "\u00e9" * 40}]

#: The configured token: sent to the API routes only (with it the admin routes change state).
RIGHT_TOKEN = {"Authorization": f"Bearer {TOKEN}"}

#: Values put in place of a route's path parameters (`/admin/models/<name>`).
PATH_VALUES = ["x", "..%2F..%2Fetc%2Fpasswd", "%00", quote("☃ snow"), "a" * 300, "-1", "9" * 40, "%ZZ"]


def check_http(resp, surface: str) -> None:
    """The contract for bad input: < 500, an error is JSON with a message, no traceback."""
    tally(surface, resp.status_code)
    text = resp.get_data(as_text=True)
    assert resp.status_code < 500, (resp.status_code, text[:300])
    assert not TRACEBACK.search(text), text[:300]
    if resp.request.method == "HEAD":  # a HEAD answer has no body
        assert not text
    elif resp.status_code >= 400:
        error = json.loads(text)["error"]
        assert error["status"] == resp.status_code and isinstance(error["message"], str) and error["message"]
    elif text:  # a 2xx with a body (HEAD and OPTIONS have none)
        json.loads(text)


@pytest.fixture(scope="module")
def served(small_searcher, tmp_path_factory):
    """A searcher with its own policy (the session's searcher stays untouched), its feedback log
    and one real impression, so events can name a known `query_id`."""
    policy = ThompsonPolicy(seed=5, burn_in=2)
    searcher = replace(small_searcher, policy=policy)
    loop = FeedbackLoop(FeedbackStore(tmp_path_factory.mktemp("hostile") / "feedback.sqlite3"), policy)
    result = searcher.search(parse_search_request({"query": "memories"}))
    loop.log_search(result)
    return searcher, loop, result.impression_id, result.ids[0]


def _apps(searcher, loop) -> list[tuple[str, object, list[dict[str, str]]]]:
    """(name, app, headers to send): the app as `serve` builds it without tokens and, where
    `es_ltrr.serving.access` exists, with an API and an admin token (hostile headers, and the right
    token on the API routes)."""
    apps = [("open", create_app(searcher, loop), [{}])]
    try:
        from es_ltrr.serving.access import Access
    except ImportError:
        return apps
    guarded = create_app(searcher, loop, access=Access(admin_token=TOKEN, api_token=TOKEN))
    return apps + [("tokens", guarded, [*HOSTILE_AUTH, RIGHT_TOKEN])]


@pytest.fixture(scope="module")
def apps(served):
    searcher, loop, _, _ = served
    return _apps(searcher, loop)


@pytest.fixture(scope="module")
def client(served):
    searcher, loop, _, _ = served
    return create_app(searcher, loop).test_client()


def routes(app) -> list[str]:
    """Every rule of the app as a concrete path; parameters get the first hostile value."""
    return sorted({_path(rule.rule, PATH_VALUES[0]) for rule in app.url_map.iter_rules() if rule.endpoint != "static"})


def _path(rule: str, value: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?[^<>]+>", value, rule)


def test_the_matrix_covers_every_route(apps):
    paths = routes(apps[0][1])
    assert {"/search", "/feedback", "/healthz"} <= set(paths)


def test_every_route_method_and_body(apps):
    """Every route × method × hostile body, with every hostile Authorization header."""
    for _, app, headers in apps:
        http = app.test_client()
        for path in routes(app):
            for method in METHODS:
                for i, (_, body, ctype) in enumerate(BODIES):
                    for header in headers if i < 4 else headers[:1]:  # every header on a few bodies
                        if header is RIGHT_TOKEN and path.startswith("/admin"):
                            continue
                        resp = http.open(path, method=method, data=body, content_type=ctype, headers=header)
                        check_http(resp, "http: routes × methods × bodies")


def test_path_parameters_and_unknown_routes(apps):
    _, app, _ = apps[0]
    http = app.test_client()
    rules = [r.rule for r in app.url_map.iter_rules() if r.arguments and r.endpoint != "static"]
    paths = [_path(rule, value) for rule in rules for value in PATH_VALUES]
    paths += ["/nope", "/search/", "/search/x", "//search", "/SEARCH", "/%00", "/" + "a" * 5000, "/admin",
              "/admin/", "/admin/nope", "/feedback/..", "/healthz?x=%ff", "/search?query=a&k=1"]
    for path in paths:
        for method in ("GET", "POST", "DELETE"):
            check_http(http.open(path, method=method, data=b"{}", content_type=JSON_TYPE), "http: paths")


@pytest.mark.parametrize("field", ["query", "k", "context", "debug", "client_id", "session_id"])
def test_every_search_field_with_every_wrong_type(client, field):
    for value in WRONG:
        body = {"query": "memories", field: value}
        resp = client.post("/search", data=json.dumps(body), content_type=JSON_TYPE)
        check_http(resp, "http: /search fields")
        nested = {"query": "memories", "context": {field: value, "nested": [value, {"v": value}]}}
        check_http(client.post("/search", data=json.dumps(nested), content_type=JSON_TYPE), "http: /search fields")


def test_missing_and_unknown_search_fields(client):
    bodies = [{}, {"k": 3}, {"context": {}}, {"debug": True}, {"k": 3, "context": {}, "debug": False}]
    bodies += [{"query": "a", name: 1} for name in ["kk", "Query", "", " ", "__proto__", "query ", "\u0000", "☃"]]
    bodies += [{"QUERY": "a"}, {"q": "a"}, {"query": "a", "k": 3, "extra": {"deep": [1, 2]}}]
    for body in bodies:
        resp = client.post("/search", data=json.dumps(body), content_type=JSON_TYPE)
        check_http(resp, "http: /search fields")
        assert resp.status_code == 400


#: Where a field of a UBI event lives: top level or a path under `event_attributes`.
EVENT_PATHS = sorted(EVENT_FIELDS) + ["event_attributes.object", "event_attributes.object.object_id",
                                      "event_attributes.object.object_id_field", "event_attributes.position",
                                      "event_attributes.position.ordinal", "event_attributes.dwell_ms"]


def _event(query_id: str, object_id: str, path: str, value) -> dict:
    event = {"query_id": query_id, "action_name": "click", "object_id": object_id,
             "event_attributes": {"object": {"object_id": object_id}, "position": {"ordinal": 0}}}
    *parents, last = path.split(".")
    node = event
    for key in parents:
        node = node.setdefault(key, {}) if isinstance(node.get(key, {}), dict) else {}
    node[last] = value
    return event


@pytest.mark.parametrize("path", EVENT_PATHS)
def test_every_feedback_field_with_every_wrong_type(served, client, path):
    _, _, query_id, object_id = served
    for value in WRONG:
        event = _event(query_id, object_id, path, value)
        check_http(client.post("/feedback", data=json.dumps(event), content_type=JSON_TYPE), "http: /feedback fields")


def test_feedback_batches(served, client):
    _, _, query_id, object_id = served
    good = {"query_id": query_id, "action_name": "click", "object_id": object_id}
    batches = [[], [None], [[]], [[good]], [good, 1, "x", None], [{}] * 3, [good] * 501, [good, {"query_id": "nope",
               "action_name": "click", "object_id": "x"}], [{**good, "event_id": "e" * 600}], {"events": [good]}]
    for batch in batches:
        check_http(client.post("/feedback", data=json.dumps(batch), content_type=JSON_TYPE), "http: /feedback batches")


@st.composite
def events(draw, query_id: str, object_id: str):
    """A UBI-shaped event whose fields are drawn from the real names (and a few others), each
    value of any JSON type, the known ids often enough that the deep checks are reached."""
    names = st.sampled_from(sorted(EVENT_FIELDS) + ["colour", "", "\ud800"])
    value = st.sampled_from([query_id, object_id, "click", "play", "skip"]) | CONTEXTS
    event = draw(st.dictionaries(names, value, max_size=8))
    if draw(st.booleans()):
        event = {"query_id": query_id, "action_name": draw(st.sampled_from(["click", "play", "dance"])),
                 "object_id": object_id, **event}
    if draw(st.booleans()):
        event["event_attributes"] = draw(st.dictionaries(st.sampled_from(["object", "position", "dwell_ms", "x"]),
                                                         CONTEXTS | st.dictionaries(st.sampled_from(
                                                             ["object_id", "object_id_field", "ordinal"]), CONTEXTS)))
    return event


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_feedback_events(served, client, data):
    _, _, query_id, object_id = served
    batch = data.draw(st.lists(events(query_id, object_id), max_size=4) | events(query_id, object_id))
    raw = json.dumps(batch, ensure_ascii=data.draw(st.booleans())).encode("utf-8", "surrogatepass")
    check_http(client.post("/feedback", data=raw, content_type=JSON_TYPE), "http: /feedback generated")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                   HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(METHODS), which=st.integers(0, 100),
       body=st.binary(max_size=200) | CONTEXTS.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
       ctype=st.sampled_from([JSON_TYPE, "text/plain", None, "application/x-www-form-urlencoded"]))
def test_generated_requests_to_every_route(apps, method, which, body, ctype):
    _, app, _ = apps[0]
    paths = routes(app)
    resp = app.test_client().open(paths[which % len(paths)], method=method, data=body, content_type=ctype)
    check_http(resp, "http: generated requests")


# -- the command line ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli(small_catalog, tmp_path_factory):
    """`es-ltrr` on the small catalog, indexed once (no embedding)."""
    data_dir = tmp_path_factory.mktemp("hostile-cli")
    runner = CliRunner()
    base = ["--catalog", str(small_catalog), "--data-dir", str(data_dir), "--no-embed"]
    assert runner.invoke(main, [*base, "index"]).exit_code == 0
    return lambda *args: runner.invoke(main, [*base, *args])


def check_cli(result, surface: str = "cli") -> None:
    """A clean refusal: exit 1 or 2, a message on stderr, no traceback, no escaped exception."""
    tally(surface)
    assert result.exit_code in (1, 2), (result.exit_code, result.output[-500:])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert not TRACEBACK.search(result.output), result.output[-500:]
    assert re.search(r"^(error|Error|Usage)", result.stderr, re.M), result.stderr[-500:]


def leaf_commands(group=main, prefix=()) -> list[tuple[tuple[str, ...], object]]:
    out = []
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            out += leaf_commands(command, (*prefix, name))
        else:
            out.append(((*prefix, name), command))
    return out


#: Values click must refuse for an option of each type (never valid, so no command runs).
BAD_VALUES = {"INT": ["abc", "", "1.5", "1e3", "0x1f", "🙂", "\x00", "--", "9" * 30 + "x"],
              "FLOAT": ["abc", "", "1,5", "🙂", "--", "1e"],
              "CHOICE": ["bogus", "", "☃", "OPENSEARCH!"]}


def _kind(param) -> str | None:
    name = type(param.type).__name__
    return {"IntParamType": "INT", "IntRange": "INT", "FloatParamType": "FLOAT", "FloatRange": "FLOAT",
            "Choice": "CHOICE"}.get(name)


def _required_args(command) -> list[str]:
    return ["x" for p in command.params if p.param_type_name == "argument" and p.required]


def test_every_option_of_every_command_refuses_bad_values(cli):
    """Parse-time refusals: every typed option of every command (incl. `node`: nothing runs)."""
    cases = 0
    for path, command in leaf_commands():
        for param in command.params:
            kind = _kind(param)
            if kind is None or param.param_type_name != "option" or param.is_flag:
                continue
            for value in BAD_VALUES[kind]:
                check_cli(cli(*path, *_required_args(command), param.opts[0], value), "cli: option values")
                cases += 1
        check_cli(cli(*path, *_required_args(command), "--no-such-option"), "cli: option values")
        if not _required_args(command):
            check_cli(cli(*path, "unexpected", "extra", "args"), "cli: option values")
        else:
            check_cli(cli(*path), "cli: option values")  # a required argument missing
    assert cases > 100


def test_paths_that_are_missing_directories_or_garbage(cli, tmp_path):
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(bytes(range(256)) * 4)
    missing, directory = str(tmp_path / "nope"), str(tmp_path)
    cases = [("upload-model", missing), ("upload-model", directory), ("train", "--judgments", missing),
             ("train", "--judgments", directory), ("train", "--judgments", str(garbage), "--json"),
             ("bench", "--out", directory), ("simulate", "--out", directory, "--queries", "2"),
             ("mappings", "--out", str(garbage)), ("--config", missing, "search", "x"),
             ("--config", directory, "search", "x"), ("--config", str(garbage), "search", "x"),
             ("--catalog", directory, "search", "x"), ("--data-dir", str(garbage), "search", "x"),
             ("--ca-certs", directory, "search", "x")]
    for args in cases:
        check_cli(cli(*args), "cli: paths")


@pytest.mark.parametrize("url", ["notaurl", "http://127.0.0.1:1", "ftp://x", "http://[::1", "http://127.0.0.1:99999",
                                 "☃://x", "http://%00", " "])
def test_bad_cluster_urls(cli, url):
    for command in (("apply", "--dry-run"), ("parity", "--queries", "2"), ("upload-model", str(FIXTURE))):
        check_cli(cli("--cluster", url, *command), "cli: cluster URLs")


def test_bad_config_files(cli, tmp_path):
    contents = ["x = [\n", 'colour = "red"\n', "policy = 5\n", 'policy = "nope"\n', "\x00\x01", "[arms]\nnope = 1\n",
                '[arms.lexical]\ndepth = "deep"\n', "k = 1\n" * 3, "embed = \"maybe\"\n"]
    for i, content in enumerate(contents):
        config = tmp_path / f"c{i}.toml"
        config.write_text(content)
        check_cli(cli("--config", str(config), "search", "x"), "cli: config files")


def test_semantic_refusals(cli):
    """Values of the right type that a command must refuse (after parsing)."""
    cases = [("search", "x", "--k", "0"), ("search", "x", "--k", "101"), ("search", "x", "--k", "-1"),
             ("search", ""), ("search", "\x00"), ("search", "x", "--context", "{bad"), ("render", "nope", "x"),
             ("render", "lexical", "x", "--size", "0"), ("render", "lexical", "x", "--size", "-5"),
             ("bench", "--requests", "0"), ("bench", "--concurrency", "99"), ("evaluate", "--queries", "1"),
             ("simulate", "--queries", "0"), ("serve", "--port", "70000"), ("serve", "--threads", "0"),
             ("serve", "--fold-interval", "nan"), ("serve", "--memory-interval", "-1"), ("serve", "--workers", "0"),
             ("models", "--promote", "../../etc"), ("models", "--promote", "nope"), ("train", "--rollback"),
             ("parity",), ("apply",), ("upload-model", str(FIXTURE))]
    for args in cases:
        check_cli(cli(*args), "cli: semantic")


# -- catalog, judgment and model files -----------------------------------------------------


def _fixture_rows() -> list[list[str]]:
    return list(csv.reader(FIXTURE.open(newline="")))


#: How a CSV row is broken: (name, function of (header, row) → the row's text).
def _numbers(header, row, value):
    out = list(row)
    out[header.index(AUDIO_FEATURES[len(value) % len(AUDIO_FEATURES)])] = value
    return _line(out)


def _line(fields) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


CORRUPTIONS = {
    "bad number": lambda h, r, v: _numbers(h, r, v),
    "too few columns": lambda h, r, v: _line(r[: len(v) % (len(r) - 1) + 1]),
    "too many columns": lambda h, r, v: _line([*r, v or "x"]),
    "not utf-8": lambda h, r, v: _line(r).replace(r[h.index("track_name")], r[h.index("track_name")] + "\udcff", 1),
    "field over the csv limit": lambda h, r, v: _line([r[0], "x" * 200_000, *r[2:]]),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(broken=st.dictionaries(st.integers(1, 11), st.tuples(st.sampled_from(sorted(CORRUPTIONS)),
                                                             st.sampled_from(["loud", "", "nan", "inf", "1e999", "½", "--1", "\x00"]))),
       gz=st.booleans())
def test_malformed_catalog_rows_are_reported_by_line_and_the_good_rows_load(tmp_path, broken, gz):
    rows = _fixture_rows()
    header, data = rows[0], rows[1:]
    empty = {i for i, row in enumerate(data, start=1)  # rows without a name or artist: skipped as empty
             if {row[header.index("track_name")], row[header.index("track_artist")]} & {"", "NA"}}
    lines, expected_lines = [_line(header)], []
    for i, row in enumerate(data, start=1):
        if i in broken:
            kind, value = broken[i]
            lines.append(CORRUPTIONS[kind](header, row, value))
            if not (i in empty and kind == "bad number"):  # an empty row's numbers are never read
                expected_lines.append(i + 1)
        else:
            lines.append(_line(row))
    raw = "".join(lines).encode("utf-8", "surrogateescape")
    path = tmp_path / ("cat.csv.gz" if gz else "cat.csv")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    tally("files: catalog CSV")
    catalog = read_spotify(path, progress=False)
    assert catalog.stats.skipped_malformed == len(expected_lines)
    assert [line for line, _ in catalog.stats.malformed] == expected_lines
    good_ids = {row[header.index("track_id")] for i, row in enumerate(data, start=1) if i not in set(broken) | empty}
    assert good_ids == {e["id"] for e in catalog.entities if e["type"] == "track"}


SCHEMA_FIELDS = {f.name for f in MUSIC.fields}
GOOD_ENTITY = {"type": "track", "name": "Lover", "artist": "Taylor Swift", "popularity": 80}


@st.composite
def bad_lines(draw) -> bytes:
    """A JSON line that must be refused: not JSON, not UTF-8, not an object, a missing or
    empty required key, an unknown key, a bad q2e."""
    kind = draw(st.sampled_from(["text", "bytes", "value", "missing", "unknown", "q2e"]))
    if kind == "text":
        text = draw(st.lists(CHARS, min_size=1, max_size=40).map("".join).filter(lambda t: t.strip() and "\n" not in t))
        return ("{" + text).encode("utf-8", "surrogatepass")
    if kind == "bytes":
        return b'{"id": "\xff\xfe"}'
    if kind == "value":
        return json.dumps(draw(CONTEXTS.filter(lambda v: not isinstance(v, dict)))).encode()
    if kind == "missing":
        key = draw(st.sampled_from(["id", "type", "name"]))
        return json.dumps({**GOOD_ENTITY, "id": "m", key: draw(st.sampled_from(["", " ", None, 3, [], {}]))}).encode()
    if kind == "unknown":
        key = draw(TEXT.filter(lambda k: k not in SCHEMA_FIELDS)) or "?"
        return json.dumps({**GOOD_ENTITY, "id": "u", key: 1}, ensure_ascii=True).encode()
    return json.dumps({**GOOD_ENTITY, "id": "q", "q2e": draw(st.sampled_from([{"a.b": 1}, {"": 1}, {"a": 0}, [1],
                                                                               {"a": "x"}, {"a": True}]))}).encode()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(st.integers(0, 10**6).map(lambda n: ("good", n)), bad_lines().map(lambda b: ("bad", b))),
                      max_size=12))
def test_malformed_jsonl_lines_are_reported_by_line_and_the_good_ones_load(tmp_path, lines):
    path = tmp_path / "items.jsonl"
    good_ids, bad_numbers, raw = [], [], []
    for number, (kind, value) in enumerate(lines, start=1):
        if kind == "good" and f"g{value}" not in good_ids:
            good_ids.append(f"g{value}")
            raw.append(json.dumps({**GOOD_ENTITY, "id": f"g{value}"}).encode())
        else:  # a bad line, or a duplicate id
            bad_numbers.append(number)
            raw.append(value if kind == "bad" else json.dumps({**GOOD_ENTITY, "id": f"g{value}"}).encode())
    path.write_bytes(b"\n".join(raw) + b"\n")
    tally("files: catalog JSONL")
    entities, skipped = read_jsonl(path)
    assert [e["id"] for e in entities] == good_ids
    assert [int(re.match(r".*items\.jsonl:(\d+): ", m).group(1)) for m in skipped] == bad_numbers


JUDGMENT_LINES = ["# qid:1: memories", "3 qid:1 # t1", "0 qid:1 # t2", "# qid:2: rock", "2 qid:2 # t3", "",
                  "# just a comment", "x qid:1 # t1", "3 qid:9 # t1", "3 qid:1", "9" * 5000 + " qid:1 # t1",
                  "-1 qid:1 # t1", "3 qid: # t1", "\x00", "3 qid:1 # t1 extra", "qid:1 3 # t1", "﻿3 qid:1 # t1"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.sampled_from(JUDGMENT_LINES) | st.lists(CHARS, max_size=30).map("".join).filter(lambda t: "\n" not in t),
                      max_size=10), encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]))
def test_judgment_files_load_or_name_the_bad_line(tmp_path, lines, encoding):
    path = tmp_path / "judgments.txt"
    path.write_bytes("\n".join(lines).encode(encoding, "surrogatepass" if encoding == "utf-8" else "replace"))
    tally("files: judgments")
    try:
        judged = read_ranklib(path)
    except ValueError as exc:
        assert str(path) in str(exc)
    else:
        assert all(isinstance(g, int) and g >= 0 for docs in judged.values() for g in docs.values())


def test_judgment_paths_that_are_not_files(tmp_path):
    for path in (tmp_path, tmp_path / "missing.txt"):
        tally("files: judgments")
        with pytest.raises(ValueError, match=re.escape(str(path))):
            read_ranklib(path)


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory) -> bytes:
    """A small real XGBoost ranking model over the featureset (JSON), to corrupt."""
    xgb = pytest.importorskip("xgboost")
    from es_ltrr.ranking.ltr import default_featureset

    names = default_featureset().names
    rng = np.random.default_rng(3)
    dtrain = xgb.DMatrix(rng.random((60, len(names))), label=rng.integers(0, 3, 60), feature_names=names)
    dtrain.set_group([10] * 6)
    booster = xgb.train({"objective": "rank:ndcg", "max_depth": 2}, dtrain, num_boost_round=3)
    path = tmp_path_factory.mktemp("model") / "model.json"
    booster.save_model(str(path))
    return path.read_bytes()


def _mutate(model: bytes, how: str, where: float, value) -> bytes:
    if how == "truncate":
        return model[: int(len(model) * where)]
    if how == "flip":
        i = int((len(model) - 1) * where)
        return model[:i] + bytes([model[i] ^ 0xFF]) + model[i + 1:]
    doc = json.loads(model)
    nodes = [doc]
    leaves = []
    while nodes:  # every (container, key) pair of the document
        node = nodes.pop()
        for key in (range(len(node)) if isinstance(node, list) else list(node)):
            leaves.append((node, key))
            if isinstance(node[key], (dict, list)):
                nodes.append(node[key])
    container, key = leaves[int((len(leaves) - 1) * where)]
    if how == "delete" and isinstance(container, dict):
        del container[key]
    else:
        container[key] = value
    return json.dumps(doc).encode()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(how=st.sampled_from(["truncate", "flip", "replace", "delete"]), where=st.floats(0, 1),
       value=st.sampled_from(WRONG))
def test_corrupt_model_files_are_refused_with_a_message(tmp_path, model_bytes, how, where, value):
    """`upload-model`'s loader and the data dir's model loader: a model or a clear ValueError."""
    from es_ltrr.ranking.ltr import LtrModel, default_featureset
    from es_ltrr.ranking.ltr.model import METADATA_FILE, MODEL_FILE, MODEL_FORMAT
    from es_ltrr.ranking.ltr.upload import load_booster

    featureset = default_featureset()
    corrupt = _mutate(model_bytes, how, where, value)
    path = tmp_path / "model.json"
    path.write_bytes(corrupt)
    tally("files: models")
    try:
        booster = load_booster(path, featureset)
    except ValueError as exc:
        assert str(path) in str(exc) or "featureset" in str(exc) or "model" in str(exc), exc
    else:
        assert booster.num_boosted_rounds() >= 0
    directory = tmp_path / "m"
    directory.mkdir(exist_ok=True)
    (directory / MODEL_FILE).write_bytes(corrupt)
    meta = {"format": MODEL_FORMAT, "name": "m", "featureset": featureset.name, "features": featureset.names}
    (directory / METADATA_FILE).write_text(json.dumps(meta) if how != "delete" else "{oops")
    tally("files: models")
    try:
        model = LtrModel.load(directory, featureset)
    except ValueError as exc:
        assert "model" in str(exc), exc
    else:
        assert model.name == "m" and model.featureset == featureset and model.booster.num_boosted_rounds() >= 0
