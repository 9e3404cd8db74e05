"""The standard OpenSearch modules the integ-test zip lacks, rebuilt from Central jars + POMs.

Each ``modules/<name>/`` gets the module jar, its runtime dependencies (minus any jar already in
``lib/``: a second copy is jar hell), a plugin descriptor and, where needed, a security policy.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .maven import Coord, Maven, pom_deps

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


def in_lib(artifact: str, lib_jars: set[str]) -> bool:
    """True when ``lib/`` already has ``<artifact>-<digit>...jar``: adding it again is jar hell."""
    prefix = artifact + "-"
    return any(j.startswith(prefix) and j[len(prefix):][:1].isdigit() for j in lib_jars)


def _module_jars(mods: tuple[Module, ...], version: str, maven: Maven,
                 lib_jars: set[str]) -> dict[str, list[Path]]:
    """Each module jar plus its transitive runtime deps, minus anything ``lib/`` has; walked
    breadth-first for all modules together, so each level is one ``Maven.fetch_all``."""
    queues = {m.name: [Coord("org.opensearch.plugin", m.artifact, version)] for m in mods}
    seen: dict[str, set[tuple[str, str]]] = {m.name: set() for m in mods}
    jars: dict[str, list[Path]] = {m.name: [] for m in mods}
    while any(queues.values()):
        level: dict[str, list[Coord]] = {}
        for name, queue in queues.items():
            level[name] = []
            for c in queue:
                if (c.group, c.artifact) not in seen[name] and not in_lib(c.artifact, lib_jars):
                    seen[name].add((c.group, c.artifact))
                    level[name].append(c)
        maven.fetch_all(x for cs in level.values() for c in cs for x in (c, c.with_ext("pom")))
        for name, cs in level.items():
            jars[name] += [maven.cache / c.path for c in cs]
            queues[name] = [d for c in cs for d in pom_deps(maven.cache / c.with_ext("pom").path)]
    return jars


def _descriptor(name: str, description: str, version: str, classname: str,
                extends: tuple[str, ...]) -> str:
    return "\n".join([
        f"description={description}", f"version={version}", f"name={name}",
        f"classname={classname}", "java.version=11", f"opensearch.version={version}",
        f"extended.plugins={','.join(extends)}", "has.native.controller=false", "",
    ])


def build_modules(mods: tuple[Module, ...], dist: Path, version: str, maven: Maven) -> dict[str, list[str]]:
    """Write ``modules/<name>/`` (jars, descriptor, policy) for each of ``mods``; returns the jar
    names per module."""
    lib_jars = {p.name for p in (dist / "lib").glob("*.jar")}
    built = {}
    for mod, jars in zip(mods, _module_jars(mods, version, maven, lib_jars).values()):
        target = dist / "modules" / mod.name
        target.mkdir(parents=True, exist_ok=True)
        for jar in jars:
            shutil.copy2(jar, target / jar.name)
        text = _descriptor(mod.name, mod.description, version, mod.classname, mod.extends)
        (target / "plugin-descriptor.properties").write_text(text)
        if mod.policy:
            (target / "plugin-security.policy").write_text(mod.policy)
        built[mod.name] = [j.name for j in jars]
    return built
