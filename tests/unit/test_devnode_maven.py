"""Where Maven artifacts come from: the user's mvn (a fake one here) when there is one, else
direct sha1-checked downloads from a configurable repository (a file:// one here)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from es_ltrr.ops.devnode import NodeConfig, NodeError
from es_ltrr.ops.devnode.config import CENTRAL, ArtifactMissing
from es_ltrr.ops.devnode.maven import Coord, Maven
from es_ltrr.ops.devnode.mvn import fetch_pom

# A stand-in for mvn: logs its arguments, then "copies" each dependency of the -f POM into
# -DoutputDirectory in repository layout (content: the coordinate), or fails like mvn does.
FAKE_MVN = f"""#!{sys.executable}
import re, sys
from pathlib import Path
log = Path(__file__).with_name("calls.log")
log.open("a").write(" ".join(sys.argv[1:]) + "\\n")
pom = Path(sys.argv[sys.argv.index("-f") + 1]).read_text()
out = Path(next(a.split("=", 1)[1] for a in sys.argv if a.startswith("-DoutputDirectory=")))
deps = re.findall(r"<groupId>([^<]+)</groupId><artifactId>([^<]+)</artifactId>"
                  r"<version>([^<]+)</version><type>([^<]+)</type>", pom)
for g, a, v, t in deps:
    if a == "absent":
        print("[ERROR] Failed to execute goal on project devnode-fetch: Could not find artifact " + g + ":" + a)
        sys.exit(1)
    dest = out / g.replace(".", "/") / a / v / f"{{a}}-{{v}}.{{t}}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(f"{{g}}:{{a}}:{{v}}@{{t}}")
"""


def fake_mvn(bin_dir: Path) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    mvn = bin_dir / "mvn"
    mvn.write_text(FAKE_MVN)
    mvn.chmod(0o755)
    return mvn


def test_mvn_on_path_is_chosen_unless_turned_off(tmp_path):
    mvn = fake_mvn(tmp_path / "bin")
    assert NodeConfig.from_env({"PATH": str(tmp_path / "bin")}).mvn == str(mvn)
    assert NodeConfig.from_env({"PATH": str(tmp_path / "bin"), "ES_LTRR_MVN": "off"}).mvn is None
    assert NodeConfig.from_env({"PATH": str(tmp_path / "empty")}).mvn is None
    assert NodeConfig.from_env({"ES_LTRR_MVN": str(mvn)}).mvn == str(mvn)
    with pytest.raises(NodeError, match="ES_LTRR_MVN"):
        NodeConfig.from_env({"ES_LTRR_MVN": str(tmp_path / "no-such-mvn")})


def test_the_fallback_repository_is_configurable():
    assert NodeConfig.from_env({}).maven_repo == CENTRAL
    mirror = NodeConfig.from_env({"ES_LTRR_MAVEN_REPO": "https://nexus.example/maven2/"})
    assert mirror.maven_repo == "https://nexus.example/maven2"
    assert Coord("a.b", "c", "1").url(mirror.maven_repo) == "https://nexus.example/maven2/a/b/c/1/c-1.jar"


def test_mvn_fetches_a_batch_in_one_run_and_the_cache_answers_later(tmp_path):
    mvn = fake_mvn(tmp_path / "bin")
    maven = Maven(tmp_path / "cache", mvn=str(mvn), progress=lambda s: None)
    coords = [Coord("org.x", "one", "1.0"), Coord("org.x", "one", "1.0", "pom"), Coord("org.y", "two", "2")]
    paths = maven.fetch_all(coords)
    assert [p.read_text() for p in paths] == [str(c) for c in coords]
    assert paths[0] == tmp_path / "cache/org/x/one/1.0/one-1.0.jar"
    calls = (tmp_path / "bin/calls.log").read_text().splitlines()
    assert len(calls) == 1 and " -C " in f" {calls[0]} "  # one JVM, strict checksums
    maven.fetch_all(coords)
    assert len((tmp_path / "bin/calls.log").read_text().splitlines()) == 1  # cached: mvn not run


def test_pinned_artifacts_go_without_strict_checksums_and_are_checked(tmp_path):
    mvn = fake_mvn(tmp_path / "bin")
    knn = Coord("org.opensearch.plugin", "opensearch-knn", "2.19.6.0", "zip")  # pinned: Central has no .sha1
    with pytest.raises(NodeError, match="sha1 .* != pinned"):
        Maven(tmp_path / "cache", mvn=str(mvn), progress=lambda s: None).fetch(knn)  # the fake's bytes
    assert " -C " not in " " + (tmp_path / "bin/calls.log").read_text()
    assert not (tmp_path / "cache" / knn.path).exists()


def test_an_artifact_mvn_cannot_find_is_missing(tmp_path):
    maven = Maven(tmp_path / "cache", mvn=str(fake_mvn(tmp_path / "bin")), progress=lambda s: None)
    with pytest.raises(ArtifactMissing, match="(?s)org.z:absent:1@jar.*Could not find artifact"):
        maven.fetch(Coord("org.z", "absent", "1"))


def test_direct_downloads_check_the_repositorys_sha1(tmp_path):
    repo = tmp_path / "repo"
    good, bad = Coord("org.x", "good", "1"), Coord("org.x", "bad", "1")
    for coord, sha1 in ((good, hashlib.sha1(b"jar bytes").hexdigest()), (bad, "0" * 40)):
        (repo / coord.path).parent.mkdir(parents=True)
        (repo / coord.path).write_bytes(b"jar bytes")
        (repo / (coord.path + ".sha1")).write_text(sha1)
    maven = Maven(tmp_path / "cache", repo=repo.as_uri(), mvn=None, progress=lambda s: None)
    assert maven.fetch(good).read_bytes() == b"jar bytes"
    with pytest.raises(NodeError, match="sha1"):
        maven.fetch(bad)
    assert not (tmp_path / "cache" / bad.path).exists()


def test_the_batch_pom_depends_on_exactly_the_artifacts():
    pom = fetch_pom([Coord("g", "a", "1", "zip"), Coord("g", "a", "1", "pom")])
    assert pom.count("<dependency>") == 2 and "<type>zip</type>" in pom and "<type>pom</type>" in pom
    assert pom.count("<exclusion><groupId>*</groupId>") == 2  # nothing transitive
