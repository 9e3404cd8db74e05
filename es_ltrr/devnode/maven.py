"""Maven Central artifacts: coordinates, sha1-verified downloads into a cache, POM dependencies.

Nothing lands in the cache unverified, so later starts can run offline from it.
"""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from .config import ArtifactMissing, NodeError, Progress

CENTRAL = "https://repo1.maven.org/maven2"

# Central serves some artifacts without checksum files; these hashes were taken from a
# download that matched the artifact's own plugin descriptor (version 2.19.6.0).
PINNED_SHA1 = {
    "org.opensearch.plugin:opensearch-knn:2.19.6.0@zip": "3f9fcc3784f9a731912e651d4926626695132eaf",
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

    @property
    def url(self) -> str:
        return f"{CENTRAL}/{self.path}"

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


def _expected_sha1(coord: Coord) -> str:
    """Central's .sha1 for ``coord``, else a pinned hash; never download unverified."""
    try:
        with _open_url(coord.url + ".sha1", coord) as resp:
            return resp.read().decode().split()[0].strip().lower()
    except ArtifactMissing:
        if str(coord) in PINNED_SHA1:
            return PINNED_SHA1[str(coord)]
        raise NodeError(f"{coord}: Central serves no {coord.url}.sha1 and no hash is pinned")


def fetch(coord: Coord, cache: Path, progress: Progress = print) -> Path:
    """Download ``coord`` into ``cache`` once; files land there only after the sha1 matched."""
    dest = cache / coord.path
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    digest, size = hashlib.sha1(), 0
    with _open_url(coord.url, coord) as resp, tmp.open("wb") as out:  # 404 -> ArtifactMissing
        expected = _expected_sha1(coord)
        while chunk := resp.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    if digest.hexdigest() != expected:
        tmp.unlink()
        raise NodeError(f"{coord}: sha1 {digest.hexdigest()} != expected {expected} ({coord.url})")
    tmp.rename(dest)
    progress(f"downloaded {coord} ({size / 1e6:.1f} MB, sha1 ok)")
    return dest


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

