"""The LTR plugin build's steps that need no node: descriptor, cache key, patching, packaging,
and the assembly spec that decides a reinstall by content."""

from __future__ import annotations

import io
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from es_ltrr.ops.devnode import NodeConfig
from es_ltrr.ops.devnode.assemble import assembly_spec
from es_ltrr.ops.devnode.config import DEFAULT_VENDOR
from es_ltrr.ops.devnode.ltr_build import (
    BuildFailed,
    LtrSource,
    apply_patches,
    compile_sources,
    dependency_coords,
    extract,
    write_zip,
)
from es_ltrr.ops.devnode.ltr_recipes import RECIPES


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_opensearch_descriptor():
    d = properties(RECIPES["opensearch"].descriptor("2.19.6"))
    assert (d["name"], d["version"], d["opensearch.version"]) == ("opensearch-ltr", "2.19.6.0", "2.19.6")
    assert (d["classname"], d["java.version"]) == ("com.o19s.es.ltr.LtrQueryParserPlugin", "11")
    assert "elasticsearch.version" not in d


def test_elasticsearch_descriptor_has_only_keys_8_19_accepts():
    d = properties(RECIPES["elasticsearch"].descriptor("8.19.21"))
    accepted = {"name", "description", "version", "elasticsearch.version", "java.version", "classname",
                "modulename", "extended.plugins", "has.native.controller", "licensed"}
    assert set(d) <= accepted
    assert (d["name"], d["version"], d["elasticsearch.version"]) == ("ltr", "1.5.10-es8.19.21", "8.19.21")
    assert (d["java.version"], d["extended.plugins"], d["has.native.controller"]) == ("17", "", "false")


def fake_tarball(path: Path, files: dict[str, str], top: str = "plugin-1.0") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


PATCH = """--- a/src/Hello.java
+++ b/src/Hello.java
@@ -1,3 +1,2 @@
 class Hello {
-    SpecialPermission p;
 }
"""


def test_patches_apply_to_the_extracted_tree(tmp_path):
    tarball = fake_tarball(tmp_path / "p.tar.gz", {"src/Hello.java": "class Hello {\n    SpecialPermission p;\n}\n"})
    (tmp_path / "0001.patch").write_text(PATCH)
    src = extract(tarball, tmp_path / "x")
    apply_patches(src, (tmp_path / "0001.patch",))
    assert (src / "src/Hello.java").read_text() == "class Hello {\n}\n"
    with pytest.raises(BuildFailed, match="step 'patch'.*0001.patch does not apply") as failed:
        apply_patches(src, (tmp_path / "0001.patch",))  # already applied: refused, not reversed
    assert failed.value.step == "patch" and "--no-ltr" in str(failed.value)


def test_extract_wants_one_top_dir(tmp_path):
    tarball = fake_tarball(tmp_path / "p.tar.gz", {"a/x": "1", "b/y": "2"}, top="t")
    assert extract(tarball, tmp_path / "ok") == tmp_path / "ok" / "t"
    two = tmp_path / "two.tar.gz"
    with tarfile.open(two, "w:gz") as tar:
        for top in ("one", "two"):
            info = tarfile.TarInfo(f"{top}/f")
            tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(BuildFailed, match="step 'extract'"):
        extract(two, tmp_path / "bad")


@pytest.mark.skipif(not (DEFAULT_VENDOR / "elasticsearch-learning-to-rank").is_dir(), reason="no vendored source")
def test_the_elasticsearch_patch_applies_to_the_vendored_source(tmp_path):
    source = LtrSource.locate(NodeConfig(distribution="elasticsearch"))
    assert [p.name for p in source.patches] == ["0001-mustache-utils-without-special-permission.patch"]
    src = extract(source.tarball, tmp_path)
    apply_patches(src, source.patches)
    text = (src / "src/main/java/com/o19s/es/template/mustache/MustacheUtils.java").read_text()
    assert "SpecialPermission" not in text and "AccessController.doPrivileged" in text


def source_in(tmp_path: Path, patch_text: str | None) -> LtrSource:
    tmp_path.mkdir()
    tarball = fake_tarball(tmp_path / "src.tar.gz", {"README": "x"})
    patches = ()
    if patch_text is not None:
        (tmp_path / "0001.patch").write_text(patch_text)
        patches = (tmp_path / "0001.patch",)
    return LtrSource(RECIPES["opensearch"], tarball, patches, "2.19.6")


def test_cache_key_follows_source_patches_jars_and_node_version(tmp_path):
    base = source_in(tmp_path / "a", None)
    assert base.key == replace(base).key  # same inputs, same key (and same zip path)
    patched = source_in(tmp_path / "b", PATCH)
    repatched = source_in(tmp_path / "c", PATCH.replace("Hello", "Hola"))
    more_jars = replace(base, recipe=replace(base.recipe, jars=base.recipe.jars + ("g:a:1",)))
    other_node = replace(base, node_version="2.19.7")
    keys = {s.key for s in (base, patched, repatched, more_jars, other_node)}
    assert len(keys) == 5
    assert base.zip_path(tmp_path).name == f"opensearch-ltr-2.19.6.0-{base.key[:12]}.zip"


def test_lucene_jars_follow_the_nodes_lib(tmp_path):
    (tmp_path / "lucene-core-9.12.2.jar").write_bytes(b"")
    coords = {f"{c.group}:{c.artifact}": c.version for c in dependency_coords(RECIPES["elasticsearch"], tmp_path)}
    assert coords["org.apache.lucene:lucene-expressions"] == coords["org.apache.lucene:lucene-codecs"] == "9.12.2"
    with pytest.raises(BuildFailed, match="step 'jars'.*lucene-core"):
        dependency_coords(RECIPES["opensearch"], tmp_path / "missing")


def test_compile_without_a_jdk_names_the_step(tmp_path):
    (tmp_path / "src/main/java").mkdir(parents=True)
    (tmp_path / "src/main/java/A.java").write_text("class A {}")
    with pytest.raises(BuildFailed, match="step 'compile'.*needs a JDK"):
        compile_sources(tmp_path, [], tmp_path / "jre/bin/javac", 11, tmp_path / "classes")


def test_zips_are_reproducible(tmp_path):
    entries = {"b.txt": b"2", "a/x.class": b"\xca\xfe"}
    write_zip(tmp_path / "one.zip", entries)
    write_zip(tmp_path / "two.zip", dict(reversed(entries.items())))
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    assert zipfile.ZipFile(tmp_path / "one.zip").namelist() == ["a/x.class", "b.txt"]


def test_a_given_zip_is_reinstalled_when_its_content_changes(tmp_path):
    zip_path = tmp_path / "ltr.zip"
    zip_path.write_bytes(b"one")
    config = NodeConfig(home=tmp_path, ltr_zip=zip_path)
    first = assembly_spec(config)
    zip_path.write_bytes(b"two")  # rebuilt at the same path
    assert assembly_spec(config)["ltr"] != first["ltr"]
    assert assembly_spec(replace(config, ltr=False))["ltr"] is None


def test_a_missing_source_names_the_step_and_the_way_out(tmp_path):
    with pytest.raises(BuildFailed, match="step 'source'.*ES_LTRR_VENDOR_DIR") as failed:
        assembly_spec(NodeConfig(home=tmp_path, vendor=tmp_path / "nowhere"))
    assert "--no-ltr" in str(failed.value)
