"""The standard OpenSearch modules the integ-test zip lacks, rebuilt from Central jars + POMs.

Each ``modules/<name>/`` gets the module jar, its runtime dependencies (minus any jar already in
``lib/``: a second copy is jar hell), a plugin descriptor and, where needed, a security policy.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .config import Progress
from .maven import Coord, fetch, pom_deps

PAINLESS_POLICY = """grant {
  // generates and loads script classes at run time
  permission java.lang.RuntimePermission "createClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
};
"""

MUSTACHE_POLICY = """grant {
  // mustache.java reflects over the template scope objects
  permission java.lang.RuntimePermission "accessDeclaredMembers";
  permission java.lang.reflect.ReflectPermission "suppressAccessChecks";
};
"""

REINDEX_POLICY = """grant {
  // reindex-from-remote opens connections through the REST client
  permission java.net.SocketPermission "*", "connect";
};
"""


@dataclass(frozen=True)
class Module:
    """A standard module the integ-test zip lacks, rebuilt from its Central jar + POM."""

    name: str
    artifact: str
    classname: str
    description: str
    extends: tuple[str, ...] = ()
    policy: str | None = None


MODULES = (
    Module("mapper-extras", "mapper-extras-client", "org.opensearch.index.mapper.MapperExtrasPlugin",
           "Adds advanced field mappers (rank_feature(s), scaled_float, ...)"),
    Module("lang-painless", "lang-painless", "org.opensearch.painless.PainlessPlugin",
           "An easy, safe and fast scripting language for OpenSearch", policy=PAINLESS_POLICY),
    Module("lang-mustache", "lang-mustache-client", "org.opensearch.script.mustache.MustachePlugin",
           "Mustache scripting integration for OpenSearch", policy=MUSTACHE_POLICY),
    Module("analysis-common", "analysis-common", "org.opensearch.analysis.common.CommonAnalysisPlugin",
           "Adds common analysis filters, tokenizers and analyzers", extends=("lang-painless",)),
    Module("reindex", "reindex-client", "org.opensearch.index.reindex.ReindexPlugin",
           "_reindex, _update_by_query, _delete_by_query (es-ltrr apply reindexes behind aliases)",
           policy=REINDEX_POLICY),
)


def _in_lib(artifact: str, lib_jars: set[str]) -> bool:
    """True when ``lib/`` already has ``<artifact>-<digit>...jar``: adding it again is jar hell."""
    prefix = artifact + "-"
    return any(j.startswith(prefix) and j[len(prefix):][:1].isdigit() for j in lib_jars)


def _module_jars(mod: Module, version: str, cache: Path, lib_jars: set[str],
                 progress: Progress) -> list[Path]:
    """The module jar plus its transitive runtime deps, minus anything ``lib/`` has."""
    queue = [Coord("org.opensearch.plugin", mod.artifact, version)]
    seen: set[tuple[str, str]] = set()
    jars: list[Path] = []
    while queue:
        c = queue.pop(0)
        if (c.group, c.artifact) in seen or _in_lib(c.artifact, lib_jars):
            continue
        seen.add((c.group, c.artifact))
        jars.append(fetch(c, cache, progress))
        queue += pom_deps(fetch(c.with_ext("pom"), cache, progress))
    return jars


def _descriptor(name: str, description: str, version: str, classname: str,
                extends: tuple[str, ...]) -> str:
    return "\n".join([
        f"description={description}", f"version={version}", f"name={name}",
        f"classname={classname}", "java.version=11", f"opensearch.version={version}",
        f"extended.plugins={','.join(extends)}", "has.native.controller=false", "",
    ])


def build_module(mod: Module, dist: Path, version: str, cache: Path,
                  progress: Progress) -> list[str]:
    """Write ``modules/<name>/`` (jars, descriptor, policy); returns the jar names."""
    lib_jars = {p.name for p in (dist / "lib").glob("*.jar")}
    target = dist / "modules" / mod.name
    target.mkdir(parents=True, exist_ok=True)
    jars = _module_jars(mod, version, cache, lib_jars, progress)
    for jar in jars:
        shutil.copy2(jar, target / jar.name)
    text = _descriptor(mod.name, mod.description, version, mod.classname, mod.extends)
    (target / "plugin-descriptor.properties").write_text(text)
    if mod.policy:
        (target / "plugin-security.policy").write_text(mod.policy)
    return [j.name for j in jars]

