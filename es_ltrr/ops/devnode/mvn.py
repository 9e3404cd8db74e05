"""Fetching artifacts through the user's Maven: one ``mvn`` run per batch of artifacts.

Going through ``mvn`` honours ``~/.m2/settings.xml`` (mirrors, proxies, credentials), which is
what users behind a corporate repository need. One JVM start costs ~1.5 s, so a batch of
artifacts is one generated POM whose dependencies (transitive ones excluded) the
maven-dependency-plugin copies in repository layout, i.e. to the same relative paths as the
direct downloads (``Coord.path``). ``-C`` makes Maven fail on a checksum mismatch.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Protocol
from xml.sax.saxutils import escape

from .config import ArtifactMissing, NodeError

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
TAIL_LINES = 15
# mvn's wording for an artifact the repositories do not have
_MISSING = re.compile(r"Could not find artifact|was not found in|Failure to find")


class Artifact(Protocol):
    group: str
    artifact: str
    version: str
    ext: str


def fetch_pom(coords: Iterable[Artifact]) -> str:
    """A throwaway POM depending on exactly ``coords`` (no transitive dependencies)."""
    deps = "".join(
        f"<dependency><groupId>{escape(c.group)}</groupId><artifactId>{escape(c.artifact)}</artifactId>"
        f"<version>{escape(c.version)}</version><type>{escape(c.ext)}</type>"
        "<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>"
        "</dependency>\n" for c in coords)
    return ('<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>\n'
            "<groupId>es-ltrr</groupId><artifactId>devnode-fetch</artifactId><version>0</version>"
            f"<packaging>pom</packaging>\n<dependencies>\n{deps}</dependencies></project>\n")


def mvn_copy(mvn: str, coords: list[Artifact], dest: Path, strict_checksums: bool = True,
             timeout_s: float = 1800) -> None:
    """Copy ``coords`` into ``dest`` (repository layout) with one ``mvn`` run.

    ``strict_checksums=False`` is for artifacts the repository serves without checksum files
    (Maven then refuses them under ``-C``); the caller checks a pinned sha1 instead.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="es-ltrr-mvn-") as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(fetch_pom(coords))
        cmd = [mvn, "-B", "-q", "-Dstyle.color=never", *(["-C"] if strict_checksums else []),
               "-f", str(pom), f"{DEPENDENCY_PLUGIN}:copy-dependencies",
               f"-DoutputDirectory={dest}", "-Dmdep.useRepositoryLayout=true"]
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise NodeError(f"`{mvn}` could not run: {e}") from e
    if run.returncode != 0:
        out = run.stdout + run.stderr
        errors = [line for line in out.splitlines() if line.startswith("[ERROR]") and line.strip() != "[ERROR]"]
        tail = "\n".join((errors or out.splitlines())[:TAIL_LINES])
        names = ", ".join(str(c) for c in coords)
        kind = ArtifactMissing if _MISSING.search(out) else NodeError
        raise kind(f"mvn could not fetch {names} (exit {run.returncode}):\n{tail}")
