"""Maven artifacts: coordinates, a sha1-verified cache, POM dependencies.

``Maven`` fetches through the user's ``mvn`` when there is one (``mvn.py``: settings.xml
mirrors, proxies and credentials apply) and otherwise downloads directly from a repository
URL (default Maven Central, ``ES_LTRR_MAVEN_REPO``). Nothing lands in the cache unverified,
so later starts run offline from it without calling either.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .config import CENTRAL, ArtifactMissing, NodeConfig, NodeError, Progress
from .mvn import mvn_copy

# Central serves some artifacts without checksum files; these hashes were taken from a
# download that matched the artifact's own plugin descriptor (version 2.19.6.0).
PINNED_SHA1 = {
    "org.opensearch.plugin:opensearch-knn:2.19.6.0@zip": "3f9fcc3784f9a731912e651d4926626695132eaf",
    "org.opensearch.plugin:neural-search:2.19.6.0@zip": "49882bec3918169127e224ade10f4f5d965fdc53",
    "org.opensearch.plugin:opensearch-ml-plugin:2.19.6.0@zip": "19b4355396d3df2ceb56776cef4af54705d7366a",
    "org.opensearch.plugin:opensearch-job-scheduler:2.19.6.0@zip": "758627d8b74a0eb4198e80756ba4204390f66f7e",
}


@dataclass(frozen=True)
class Coord:
    """A Maven coordinate; ``str()`` gives the ``group:artifact:version@ext`` form."""

    group: str
    artifact: str
    version: str
    ext: str = "jar"

    def __str__(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}@{self.ext}"

    @property
    def path(self) -> str:
        g = self.group.replace(".", "/")
        return f"{g}/{self.artifact}/{self.version}/{self.artifact}-{self.version}.{self.ext}"

    def url(self, repo: str = CENTRAL) -> str:
        return f"{repo}/{self.path}"

    def with_ext(self, ext: str) -> Coord:
        return Coord(self.group, self.artifact, self.version, ext)


def _open_url(url: str, coord: Coord, tries: int = 3):
    """GET with retries on network errors; HTTP errors become NodeErrors naming ``coord``."""
    for attempt in range(tries):
        try:
            return urllib.request.urlopen(url, timeout=60)
        except urllib.error.HTTPError as e:
            kind = ArtifactMissing if e.code == 404 else NodeError
            raise kind(f"{coord}: GET {url} -> HTTP {e.code} {e.reason}") from e
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            if attempt == tries - 1:
                raise NodeError(f"{coord}: GET {url} failed: {e}") from e
            time.sleep(2 * (attempt + 1))
    raise AssertionError("unreachable")


def _expected_sha1(coord: Coord, repo: str) -> str:
    """The repository's .sha1 for ``coord``, else a pinned hash; never download unverified."""
    try:
        with _open_url(coord.url(repo) + ".sha1", coord) as resp:
            return resp.read().decode().split()[0].strip().lower()
    except ArtifactMissing:
        if str(coord) in PINNED_SHA1:
            return PINNED_SHA1[str(coord)]
        raise NodeError(f"{coord}: {repo} serves no {coord.path}.sha1 and no hash is pinned")


def download(coord: Coord, repo: str, dest: Path, progress: Progress = print) -> Path:
    """GET ``coord`` from ``repo`` to ``dest``; the file appears only after the sha1 matched."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    digest, size = hashlib.sha1(), 0
    with _open_url(coord.url(repo), coord) as resp, tmp.open("wb") as out:  # 404 -> ArtifactMissing
        expected = _expected_sha1(coord, repo)
        while chunk := resp.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    if digest.hexdigest() != expected:
        tmp.unlink()
        raise NodeError(f"{coord}: sha1 {digest.hexdigest()} != expected {expected} ({coord.url(repo)})")
    tmp.rename(dest)
    progress(f"downloaded {coord} ({size / 1e6:.1f} MB, sha1 ok)")
    return dest


def file_digest(path: Path, algorithm: str = "sha1") -> str:
    """Hex digest of a file, read in 1 MiB chunks (sha1 for Maven checksums, sha256 for zips)."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Maven:
    """Artifacts cached under ``cache`` (repository layout); missing ones come through ``mvn``
    (in one run per ``fetch_all``) or, without it, as direct downloads from ``repo``."""

    cache: Path
    repo: str = CENTRAL
    mvn: str | None = None
    progress: Progress = print

    @classmethod
    def for_config(cls, config: NodeConfig, progress: Progress = print) -> Maven:
        return cls(config.downloads or config.home / "downloads", config.maven_repo, config.mvn, progress)

    def fetch(self, coord: Coord) -> Path:
        return self.fetch_all([coord])[0]

    def fetch_all(self, coords: Iterable[Coord]) -> list[Path]:
        """Paths of ``coords`` in the cache, fetching the missing ones first."""
        coords = list(coords)
        missing = [c for c in dict.fromkeys(coords) if not (self.cache / c.path).is_file()]
        if missing and self.mvn:
            self._through_mvn(missing)
        for c in missing if not self.mvn else ():
            download(c, self.repo, self.cache / c.path, self.progress)
        return [self.cache / c.path for c in coords]

    def _through_mvn(self, coords: list[Coord]) -> None:
        """One strict-checksum run, one more for pinned-hash artifacts; then into the cache."""
        assert self.mvn
        t0, stage = time.monotonic(), self.cache / ".mvn-stage"
        shutil.rmtree(stage, ignore_errors=True)
        checked = [c for c in coords if str(c) not in PINNED_SHA1]
        pinned = [c for c in coords if str(c) in PINNED_SHA1]
        if checked:
            mvn_copy(self.mvn, checked, stage)
        if pinned:
            mvn_copy(self.mvn, pinned, stage, strict_checksums=False)
        for c in coords:
            got = stage / c.path
            if not got.is_file():
                raise NodeError(f"{c}: mvn succeeded but copied no {c.path}")
            pinned_sha1 = PINNED_SHA1.get(str(c))
            if pinned_sha1 and (actual := file_digest(got)) != pinned_sha1:
                raise NodeError(f"{c}: sha1 {actual} != pinned {pinned_sha1}")
            (self.cache / c.path).parent.mkdir(parents=True, exist_ok=True)
            got.replace(self.cache / c.path)
        shutil.rmtree(stage, ignore_errors=True)
        self.progress(f"fetched {len(coords)} artifact(s) through {self.mvn} in "
                      f"{time.monotonic() - t0:.1f} s: {', '.join(map(str, coords))}")


def pom_deps(pom: Path) -> list[Coord]:
    """Runtime dependencies a POM declares (compile/runtime, not optional, literal versions)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    deps = []
    for dep in ET.parse(pom).getroot().findall("m:dependencies/m:dependency", ns):
        get = lambda tag: (dep.findtext(f"m:{tag}", "", ns) or "").strip()  # noqa: E731
        if get("scope") not in ("", "compile", "runtime") or get("optional") == "true":
            continue
        if "${" in get("version") or not get("version"):
            continue
        deps.append(Coord(get("groupId"), get("artifactId"), get("version")))
    return deps

