"""docker-compose.yml and docker/*.Dockerfile install the same LTR plugins (name, version,
source) as the test node that es_ltrr.ops.devnode builds; read as text (no YAML dependency)."""

from __future__ import annotations

import re
from pathlib import Path

from es_ltrr.ops.devnode import DISTRIBUTIONS
from es_ltrr.ops.devnode.ltr_recipes import RECIPES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = (ROOT / "docker-compose.yml").read_text()
ES_DOCKERFILE = (ROOT / "docker" / "elasticsearch-ltr.Dockerfile").read_text()


def service(name: str) -> str:
    """The text of one top-level service block of the compose file."""
    match = re.search(rf"^  {name}:\n((?:    .*\n|\n)+)", COMPOSE, re.M)
    assert match, f"no service {name!r} in docker-compose.yml"
    return match.group(1)


def test_opensearch_image_is_the_test_nodes_version_and_checks_its_ltr_plugin():
    version = DISTRIBUTIONS["opensearch"].version
    recipe = RECIPES["opensearch"]
    block = service("opensearch")
    assert re.search(rf"image: opensearchproject/opensearch:{re.escape(version)}\n", block), block
    # the image bundles the plugin; the healthcheck holds it to the name and version the node builds
    health = re.search(r"healthcheck:.*\n\s+test: (.*)", block).group(1)
    assert "_cat/plugins" in health and f"{recipe.name} +{recipe.version(version)}" in health
    assert "elasticsearch-plugin" not in block and "opensearch-plugin install" not in COMPOSE


def test_elasticsearch_image_installs_the_release_of_the_vendored_tag():
    recipe = RECIPES["elasticsearch"]
    image = re.search(r"^FROM docker.elastic.co/elasticsearch/elasticsearch:(\S+)", ES_DOCKERFILE, re.M).group(1)
    url = re.search(r"elasticsearch-plugin install --batch \\\n\s+(\S+)", ES_DOCKERFILE).group(1)
    tag = f"v{recipe.upstream_version}-es{image}"
    assert recipe.tarball_prefix == f"elasticsearch-learning-to-rank-{tag[1:]}"  # the vendored source's tag
    assert url == (f"https://github.com/o19s/elasticsearch-learning-to-rank/releases/download/"
                   f"{tag}/ltr-plugin-{tag}.zip")
    health = re.search(r"healthcheck:.*\n\s+test: (.*)", service("elasticsearch")).group(1)
    assert f" {recipe.name} +{recipe.upstream_version}" in health
