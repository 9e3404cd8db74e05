"""Assembling a distribution directory: the integ-test zip, rebuilt modules, plugin zips.

A marker file records what was assembled (``assembly_spec``); a start re-assembles only when it
differs. The LTR plugin enters the spec by content (the source build's key, or the sha256 of
a given zip), so a rebuilt zip is installed even at the same path, and an unchanged one is not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

from .config import ES_MISSING_MODULES, NodeConfig, NodeError, Progress
from .host import java_home, node_pid
from .ltr_build import LtrSource, build_plugin
from .maven import Coord, Maven, file_digest
from .modules import MODULES, build_modules

MARKER = ".es-ltrr-assembled.json"
#: What ``NodeConfig.neural_search`` installs, in order: the plugin's descriptor extends only
#: opensearch-knn, and it carries the ml-commons client it links against, so the hybrid query
#: and its search processors run without the 375 MB ml-commons plugin (which only serves
#: model inference: neural queries, ingest-time embedding, neither of which es-ltrr sends).
NEURAL_PLUGINS = ("neural-search",)
LOG_TAIL_LINES = 30


def _unzip(archive: Path, into: Path) -> None:
    """Extract keeping the Unix modes (zipfile drops them; the bin/ scripts need +x)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, into))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                path.chmod(mode)


def _is_opensearch(config: NodeConfig) -> bool:
    return config.distribution == "opensearch"


def ltr_spec(config: NodeConfig) -> dict | None:
    """What LTR plugin the node gets, by content: a given zip's sha256, or the source build's key."""
    if not config.ltr:
        return None
    if config.ltr_zip:
        if not config.ltr_zip.is_file():
            raise NodeError(f"{config.ltr_zip} ({config.distro.ltr_env}) is not a file")
        return {"zip": str(config.ltr_zip), "sha256": file_digest(config.ltr_zip, "sha256")}
    source = LtrSource.locate(config)
    return {"source": source.tarball.name, "patches": [p.name for p in source.patches], "key": source.key}


def assembly_spec(config: NodeConfig) -> dict:
    """What the assembled distro must contain; a change means re-assembling."""
    opensearch = _is_opensearch(config)
    return {"distribution": config.distribution, "version": config.version,
            "modules": [m.name for m in MODULES] if opensearch else [],
            "knn": config.knn and opensearch, "ltr": ltr_spec(config),
            "neural_search": config.neural_search and opensearch}


def read_marker(dist: Path) -> dict:
    try:
        marker = json.loads((dist / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    # markers written before Elasticsearch support, before the neural-search option
    return {"distribution": "opensearch", "neural_search": False, **marker}


def _plugin_zips(config: NodeConfig, lib: Path, maven: Maven, progress: Progress) -> list[tuple[str, Path]]:
    """Plugin zips to install: k-NN (OpenSearch, from Maven) and LTR (``ltr_zip`` or built
    from the vendored source against ``lib``) unless turned off."""
    zips = []
    if _is_opensearch(config) and config.knn:
        knn = Coord("org.opensearch.plugin", "opensearch-knn", f"{config.version}.0", "zip")
        zips.append((str(knn), maven.fetch(knn)))
    if _is_opensearch(config) and config.neural_search:
        if not config.knn:
            raise NodeError("the neural-search plugin extends the k-NN plugin: leave k-NN in")
        coords = [Coord("org.opensearch.plugin", name, f"{config.version}.0", "zip") for name in NEURAL_PLUGINS]
        zips += [(str(c), path) for c, path in zip(coords, maven.fetch_all(coords))]
    if not config.ltr:
        progress("LTR plugin left out (--no-ltr)")
    elif config.ltr_zip:
        zips.append((f"{config.ltr_zip} ({config.distro.ltr_env})", config.ltr_zip))
    else:
        source = LtrSource.locate(config)
        javac = java_home(config) / "bin" / "javac"
        built = build_plugin(source, lib, maven, javac, config.home, progress)
        zips.append((f"{source.recipe.name} {source.version} built from {source.tarball.name}", built))
    return zips


def _install_plugin(config: NodeConfig, dist: Path, source: str, archive: Path, java: Path) -> None:
    d = config.distro
    if not archive.is_file():
        raise NodeError(f"{source}: {archive} is not a file")
    cmd = [str(dist / "bin" / f"{d.name}-plugin"), "install", "--batch", archive.resolve().as_uri()]
    env = {**os.environ, f"{d.env}_JAVA_HOME": str(java), f"{d.env}_PATH_CONF": str(dist / "config")}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if run.returncode != 0:
        tail = "\n".join((run.stdout + run.stderr).splitlines()[-LOG_TAIL_LINES:])
        raise NodeError(f"installing {source}: `{d.name}-plugin install` exited {run.returncode}:\n{tail}")


def assemble(config: NodeConfig, progress: Progress = print) -> Path:
    """Build (once) the distro dir: integ-test zip + rebuilt modules + plugins; returns it."""
    dist, wanted = config.dist, assembly_spec(config)
    if {k: read_marker(dist).get(k) for k in wanted} == wanted:
        return dist
    if node_pid(config):
        raise NodeError(f"a node is running from {dist}; stop it before re-assembling")
    d = config.distro
    progress(f"assembling {d.title} {config.version} in {dist}")
    maven, java = Maven.for_config(config, progress), java_home(config)
    progress(f"Maven artifacts: {'through ' + config.mvn if config.mvn else 'downloaded from ' + config.maven_repo}")
    core = Coord(d.group, d.name, config.version, "zip")
    stage = config.home / ".stage"
    shutil.rmtree(stage, ignore_errors=True)
    _unzip(maven.fetch(core), stage)
    built = stage / f"{d.name}-{config.version}"
    jars = build_modules(MODULES, built, config.version, maven) if _is_opensearch(config) else {}
    for name, module_jars in jars.items():
        progress(f"module {name}: {', '.join(module_jars)}")
    if not _is_opensearch(config):
        progress(f"WARNING: no {', '.join(ES_MISSING_MODULES)} module: the integ-test zip lacks them "
                 f"and Maven Central has no {config.version} artifacts for them (e.g. "
                 f"org.elasticsearch.plugin:mapper-extras-client ends at 7.17). `es-ltrr apply` "
                 "does without them (the Q2E memory as sparse_vector, core analysis: no accent folding "
                 "or trigrams); a full distribution has them (docker compose --profile elasticsearch).")
    plugins = []
    for source, archive in _plugin_zips(config, built / "lib", maven, progress):
        progress(f"installing plugin {source}")
        _install_plugin(config, built, source, archive, java)
        plugins.append(source)
    (built / MARKER).write_text(json.dumps({**wanted, "module_jars": jars, "plugins": plugins}, indent=1))
    shutil.rmtree(dist, ignore_errors=True)
    built.rename(dist)
    shutil.rmtree(stage, ignore_errors=True)
    return dist

