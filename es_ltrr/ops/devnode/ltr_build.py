"""Building the LTR plugin zip from vendored upstream source, without Gradle: javac + zipfile.

No Gradle distribution is reachable from the machines this runs on, so the upstream build
cannot run; the steps it would take are short: extract the tarball, apply our patches, fetch
the dependency jars, ``javac`` against the node's own ``lib/``, zip jar + deps + descriptor.
A failure names its step (``BuildFailed.step``). The zip is cached under
``<home>/ltr-plugin/`` by a key over the tarball, the patches, the jar list, the descriptor and
the recipe format, so a warm start neither rebuilds nor reinstalls it, and any change to
those inputs gives a new zip (which ``assemble`` then installs: its marker holds the key).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import time
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .config import NodeConfig, NodeError, Progress
from .ltr_recipes import RECIPES, PluginRecipe
from .maven import Coord, Maven
from .modules import in_lib

RECIPE_FORMAT = 1  # bump when the build changes what lands in the zip
ZIP_TIME = (2000, 1, 1, 0, 0, 0)  # fixed entry times: the same inputs give the same bytes
ERROR_LINES = 15


class BuildFailed(NodeError):
    """The plugin build stopped at ``step`` (source, extract, patch, jars, compile, package)."""

    def __init__(self, step: str, why: str) -> None:
        super().__init__(f"building the LTR plugin failed at step '{step}': {why}\n"
                         "(start without it: `es-ltrr node start --no-ltr`; or give a built zip "
                         "with ES_LTRR_LTR_ZIP / ES_LTRR_ES_LTR_ZIP)")
        self.step = step


@dataclass(frozen=True)
class LtrSource:
    """The inputs of one build: recipe, tarball, patches, and the node version it targets."""

    recipe: PluginRecipe
    tarball: Path
    patches: tuple[Path, ...]
    node_version: str

    @classmethod
    def locate(cls, config: NodeConfig) -> LtrSource:
        """The vendored tarball for ``config``'s distribution (exactly one) and its patches."""
        recipe = RECIPES[config.distribution]
        where = config.vendor / recipe.vendor_subdir
        found = sorted(where.glob(f"{recipe.tarball_prefix}-*.tar.gz"))
        if len(found) != 1:
            raise BuildFailed("source", f"expected one {recipe.tarball_prefix}-*.tar.gz in {where} "
                                        f"(vendor dir: ES_LTRR_VENDOR_DIR), found {len(found)}")
        return cls(recipe, found[0], tuple(sorted(recipe.patch_dir.glob("*.patch"))), config.version)

    @cached_property
    def key(self) -> str:
        """sha256 over everything that decides the zip's content."""
        h = hashlib.sha256()
        parts = (f"format {RECIPE_FORMAT}", self.recipe.descriptor(self.node_version),
                 f"release {self.recipe.release}", f"policy {self.recipe.security_policy}",
                 *self.recipe.jars)
        for part in parts:
            h.update(part.encode() + b"\0")
        h.update(self.tarball.read_bytes())
        for patch in self.patches:
            h.update(patch.name.encode() + b"\0" + patch.read_bytes() + b"\0")
        return h.hexdigest()

    @property
    def version(self) -> str:
        return self.recipe.version(self.node_version)

    def zip_path(self, home: Path) -> Path:
        return home / "ltr-plugin" / f"{self.recipe.name}-{self.version}-{self.key[:12]}.zip"


def extract(tarball: Path, into: Path) -> Path:
    """Unpack ``tarball`` (a ``git archive`` with one top dir) into ``into``; returns that dir."""
    with tarfile.open(tarball) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4: refuse unsafe paths
            tar.extractall(into, filter="data")
        else:
            tar.extractall(into)
    tops = [p for p in into.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise BuildFailed("extract", f"{tarball.name} has {len(tops)} top-level dirs, expected 1")
    return tops[0]


def apply_patches(src: Path, patches: tuple[Path, ...]) -> None:
    """``patch -p1`` each file in order; a patch that does not apply exactly stops the build."""
    for patch in patches:
        cmd = ["patch", "-p1", "--batch", "--forward", "--fuzz=0", "--no-backup-if-mismatch", "-i", str(patch)]
        try:
            run = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=60)
        except OSError as e:
            raise BuildFailed("patch", f"cannot run `patch` ({e}); install it (apt-get install patch)") from e
        if run.returncode != 0:
            raise BuildFailed("patch", f"{patch.name} does not apply to {src.name}:\n"
                                       f"{(run.stdout + run.stderr).strip()}")


def lucene_version(lib: Path) -> str:
    """The node's Lucene (``lib/lucene-core-<v>.jar``): bundled Lucene jars must match it."""
    found = sorted(lib.glob("lucene-core-*.jar"))
    if not found:
        raise BuildFailed("jars", f"no lucene-core-*.jar in {lib}")
    return found[0].name[len("lucene-core-"):-len(".jar")]


def dependency_coords(recipe: PluginRecipe, lib: Path) -> list[Coord]:
    """The recipe's jars with ``{lucene}`` filled in from ``lib``."""
    lucene = lucene_version(lib)
    return [Coord(*spec.format(lucene=lucene).split(":")) for spec in recipe.jars]


def compile_sources(src: Path, classpath: list[Path], javac: Path, release: int, out: Path) -> int:
    """``javac --release`` every ``src/main/java`` file into ``out``; returns the source count."""
    sources = sorted((src / "src" / "main" / "java").rglob("*.java"))
    if not sources:
        raise BuildFailed("compile", f"no sources under {src / 'src/main/java'}")
    if not javac.is_file():
        raise BuildFailed("compile", f"no {javac}: building the plugin needs a JDK "
                                     "(e.g. openjdk-17-jdk-headless), not only a JRE")
    out.mkdir(parents=True, exist_ok=True)
    argfile = out.parent / "sources.txt"
    argfile.write_text("\n".join(f'"{s}"' for s in sources) + "\n")
    cmd = [str(javac), "--release", str(release), "-encoding", "UTF-8", "-proc:none", "-nowarn",
           "-d", str(out), "-cp", os.pathsep.join(map(str, classpath)), f"@{argfile}"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if run.returncode != 0:
        lines = (run.stdout + run.stderr).splitlines()
        errors = [line for line in lines if ": error:" in line] or lines
        raise BuildFailed("compile", f"javac exited {run.returncode} ({len(errors)} errors); first ones:\n"
                                     + "\n".join(errors[:ERROR_LINES]))
    return len(sources)


def write_zip(path: Path, entries: dict[str, bytes]) -> None:
    """A zip with sorted entries and fixed times (reproducible), written atomically."""
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            zf.writestr(info, entries[name])
    tmp.replace(path)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def plugin_entries(source: LtrSource, src: Path, classes: Path, bundled: list[Path]) -> dict[str, bytes]:
    """The zip's files: plugin jar (classes + resources), the ``bundled`` jars, descriptor,
    security policy (if the recipe ships it), LICENSE and NOTICE."""
    recipe = source.recipe
    jar_path = classes.parent / f"{recipe.name}-{source.version}.jar"
    manifest = b"Manifest-Version: 1.0\r\nCreated-By: es-ltrr devnode\r\n\r\n"
    write_zip(jar_path, {"META-INF/MANIFEST.MF": manifest, **_tree(src / "src/main/resources"), **_tree(classes)})
    entries = {jar_path.name: jar_path.read_bytes(),
               "plugin-descriptor.properties": recipe.descriptor(source.node_version).encode()}
    entries.update({jar.name: jar.read_bytes() for jar in bundled})
    if recipe.security_policy:
        entries["plugin-security.policy"] = (src / "src/main/plugin-metadata/plugin-security.policy").read_bytes()
    for name in ("LICENSE.txt", "NOTICE.txt"):
        if (src / name).is_file():
            entries[name] = (src / name).read_bytes()
    return entries


def build_plugin(source: LtrSource, lib: Path, maven: Maven, javac: Path, home: Path,
                 progress: Progress = print) -> Path:
    """The plugin zip for ``source`` compiled against ``lib``: cached, else built now."""
    out = source.zip_path(home)
    if out.is_file():
        return out
    t0, work = time.monotonic(), out.parent / f".build-{source.key[:12]}"
    progress(f"building {source.recipe.name} {source.version} from {source.tarball.name}"
             f"{' + ' + ', '.join(p.name for p in source.patches) if source.patches else ''}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        src = _step("extract", lambda: extract(source.tarball, work / "src"))
        apply_patches(src, source.patches)
        coords = dependency_coords(source.recipe, lib)
        jars = _step("jars", lambda: maven.fetch_all(coords))
        lib_jars = sorted(lib.glob("*.jar"))
        count = compile_sources(src, lib_jars + jars, javac, source.recipe.release, work / "classes")
        names = {j.name for j in lib_jars}  # a second copy of a lib/ jar is jar hell
        bundled = [j for c, j in zip(coords, jars) if not in_lib(c.artifact, names)]
        entries = _step("package", lambda: plugin_entries(source, src, work / "classes", bundled))
        write_zip(out, entries)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress(f"built {out.name} in {time.monotonic() - t0:.1f} s ({count} sources, "
             f"{out.stat().st_size / 1e6:.1f} MB; bundled: {', '.join(sorted(e for e in entries if e.endswith('.jar')))})")
    return out


def _step(name: str, action):
    """Run ``action``; any failure becomes ``BuildFailed(name, ...)``."""
    try:
        return action()
    except BuildFailed:
        raise
    except (NodeError, OSError, tarfile.TarError, zipfile.BadZipFile) as e:
        raise BuildFailed(name, str(e)) from e
