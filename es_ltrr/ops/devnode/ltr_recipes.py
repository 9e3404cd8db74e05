"""What the LTR plugin of each distribution is built from: source tarball, jars, descriptor.

Neither plugin is on Maven Central, so the dev node builds it from the upstream source vendored
under ``NodeConfig.vendor`` (``ltr_build.py`` does the building). The facts here come from the
READMEs next to the tarballs, established by building both by hand on these machines:

* OpenSearch: ``opensearch-project/opensearch-learning-to-rank-base``, branch 2.19, commit
  f511086d7e7adb0816f97630dcedc1a36d63780f; unchanged source, ``--release 11``.
* Elasticsearch: ``o19s/elasticsearch-learning-to-rank``, tag v1.5.10-es8.18.6, commit
  0172decab20ee07e3c3e28e1e4983be6f5996402; one patch (``patches/elasticsearch-ltr/``) because
  8.19 dropped ``SpecialPermission``; ``--release 17``; no security policy (8.19 has
  entitlements: the legacy policy only earns a warning, and the plugin needs no entitlement).

Jar versions are the ones that compiled and ran; ``{lucene}`` becomes the Lucene version of the
node's own ``lib/`` (upstream gradle.properties names stale ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PATCHES = Path(__file__).parent / "patches"
CLASSNAME = "com.o19s.es.ltr.LtrQueryParserPlugin"
DESCRIPTION = "Learning to Rank Query w/ RankLib Models (built from source by es-ltrr)"


@dataclass(frozen=True)
class PluginRecipe:
    """One distribution's LTR plugin: where its source is and how it is compiled and described."""

    distribution: str
    name: str  # the descriptor's name, as _cat/plugins lists it
    vendor_subdir: str  # under NodeConfig.vendor
    tarball_prefix: str  # the tarball is <prefix>-<...>.tar.gz
    commit: str
    upstream_version: str  # "" when the plugin takes the node's version
    release: int  # javac --release
    jars: tuple[str, ...]  # group:artifact:version, bundled unless lib/ has them
    security_policy: bool  # ship src/main/plugin-metadata/plugin-security.policy

    @property
    def patch_dir(self) -> Path:
        """``patches/<distribution>-ltr/*.patch``, applied in name order with ``patch -p1``."""
        return PATCHES / f"{self.distribution}-ltr"

    def version(self, node_version: str) -> str:
        """``2.19.6.0`` (OpenSearch plugins follow the node) or ``1.5.10-es8.19.21`` (o19s)."""
        if not self.upstream_version:
            return f"{node_version}.0"
        return f"{self.upstream_version}-es{node_version}"

    def descriptor(self, node_version: str) -> str:
        """plugin-descriptor.properties; Elasticsearch 8.19 rejects keys it does not know."""
        lines = [f"description={DESCRIPTION}", f"version={self.version(node_version)}",
                 f"name={self.name}", f"classname={CLASSNAME}", f"java.version={self.release}",
                 f"{self.distribution}.version={node_version}", "extended.plugins=",
                 "has.native.controller=false"]
        return "\n".join(lines) + "\n"


RECIPES = {
    "opensearch": PluginRecipe(
        "opensearch", "opensearch-ltr", "opensearch-learning-to-rank-base",
        "opensearch-learning-to-rank-base-2.19", "f511086d7e7adb0816f97630dcedc1a36d63780f", "", 11,
        ("org.apache.lucene:lucene-expressions:{lucene}", "org.antlr:antlr4-runtime:4.11.1",
         "org.ow2.asm:asm:9.6", "org.ow2.asm:asm-commons:9.6", "org.ow2.asm:asm-tree:9.6",
         # build.gradle names 0.3.0, which Central does not serve; 0.2.0 compiles and runs
         "com.o19s:RankyMcRankFace:0.2.0", "com.github.spullara.mustache.java:compiler:0.9.3",
         "org.conscrypt:conscrypt-openjdk-uber:2.5.2", "org.slf4j:slf4j-api:1.7.36",
         "org.slf4j:slf4j-simple:1.7.36",
         # build.gradle lists it; Central has no 2.19.6.0 and src/main does not use it
         "org.opensearch:common-utils:2.19.4.0"),
        security_policy=True),
    "elasticsearch": PluginRecipe(
        "elasticsearch", "ltr", "elasticsearch-learning-to-rank",
        "elasticsearch-learning-to-rank-1.5.10-es8.18.6", "0172decab20ee07e3c3e28e1e4983be6f5996402",
        "1.5.10", 17,
        ("org.apache.lucene:lucene-expressions:{lucene}",
         "org.apache.lucene:lucene-codecs:{lucene}",  # expressions need it at run time
         "org.antlr:antlr4-runtime:4.11.1",  # Lucene 9 expressions need 4.11, not the pinned 4.5.1-1
         "org.ow2.asm:asm:8.0.1", "org.ow2.asm:asm-commons:8.0.1", "org.ow2.asm:asm-tree:8.0.1",
         "org.ow2.asm:asm-analysis:8.0.1", "com.o19s:RankyMcRankFace:0.1.1",
         "com.github.spullara.mustache.java:compiler:0.9.3"),
        security_policy=False),
}
