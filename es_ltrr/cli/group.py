"""The `es-ltrr` command group and what its commands share: the settings options (before or
after the command), `Ctx` (settings built once), `fail` (an error line and exit 2) and
`searcher_for` (the wired searcher). The commands live in their modules (`cli/__init__.py`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..common.console import say
from ..common.extras import MissingExtra
from ..common.redact import install_log_scrubber, register, scrub, url_passwords
from ..common.settings import Settings
from ..retrieval.arms import ARMS
from ..retrieval.policy import POLICIES


class Ctx:
    """Settings shared by subcommands, built once from flags + env + config file."""

    def __init__(self, **options: Any):
        self.options: dict[str, Any] = dict(options)

    def settings(self, **more: Any) -> Settings:
        """The settings; a config file that is missing, unreadable or wrong is a clean error."""
        from ..retrieval.engines.factory import check_cluster_url

        options = {**self.options, **more}
        try:
            settings = Settings.load(options.pop("config", None), arms=ARMS, **options)
            if settings.cluster_url:  # a URL without a scheme is said first, by every command
                check_cluster_url(settings.cluster_url)
        except ValueError as exc:
            fail(str(exc))
            raise  # unreachable: fail() exits
        register_secrets(settings)
        return settings


def register_secrets(settings: Settings) -> None:
    """The settings' credentials are masked in whatever the CLI prints or logs (`es_ltrr.common.redact`)."""
    register(settings.password, *url_passwords(settings.cluster_url), settings.admin_token, settings.api_token)


def fail(message: str) -> None:
    click.echo(f"error: {scrub(message)}", err=True)
    sys.exit(2)


def _scrubbed_excepthook(kind, value, tb) -> None:
    """An unexpected traceback is printed without the registered secrets too."""
    import traceback

    sys.stderr.write(scrub("".join(traceback.format_exception(kind, value, tb))))


class _Group(click.Group):
    """Commands whose optional dependency is not installed, or whose cluster cannot be reached
    or refuses a request, end like bad input: `error:`, exit 2 (never a traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        from ..retrieval.engines import EngineError

        try:
            return super().invoke(ctx)
        except (MissingExtra, EngineError) as exc:
            fail(str(exc))


def run_alone(command: click.Command, args: list[str], prog_name: str) -> None:
    """Run one command as a program of its own (`scripts/upload_model.py`): its usage and help
    name the program, not `es-ltrr COMMAND`, and it gets what `main` gives every command
    (secrets scrubbed, a missing extra or a cluster error as `error:` and exit 2)."""
    from ..retrieval.engines import EngineError

    install_log_scrubber()
    sys.excepthook = _scrubbed_excepthook
    try:
        command.main(args, prog_name=prog_name, obj=Ctx(), help_option_names=["-h", "--help"])
    except (MissingExtra, EngineError) as exc:
        fail(str(exc))


#: Settings every command may take, before or after its name (`es-ltrr --cluster URL apply`
#: and `es-ltrr apply --cluster URL` are the same): (option declarations, settings key,
#: value when the flag is given (None: the option's value), click keyword arguments).
_SETTINGS_OPTIONS: list[tuple[tuple[str, ...], str, Any, dict[str, Any]]] = [
    (("--config",), "config", None, dict(type=click.Path(dir_okay=False, path_type=Path), help="TOML settings file (or ES_LTRR_CONFIG).")),
    (("--data-dir",), "data_dir", None, dict(type=click.Path(file_okay=False, path_type=Path), help="Where the index, models and policy state live (or ES_LTRR_DATA_DIR); default: the "
         "platform's data dir, $XDG_DATA_HOME/es-ltrr or ~/.local/share/es-ltrr on Linux, "
         "the same from every working directory.")),
    (("--catalog",), "catalog", None, dict(type=click.Path(dir_okay=False, path_type=Path), help="Catalog file: Spotify CSV(.gz) or entity JSONL(.gz) (default: the shipped Spotify catalog).")),
    (("--no-embed",), "embed", False, dict(is_flag=True, help="Run without the embedding model (no semantic arm).")),
    (("--cluster",), "cluster_url", None, dict(metavar="URL", help="Elasticsearch/OpenSearch URL (or ES_LTRR_CLUSTER_URL); default: the embedded engine.")),
    (("--flavor",), "flavor", None, dict(type=click.Choice(["opensearch", "elasticsearch"]), help="Cluster flavor (detected from the root endpoint if omitted).")),
    (("--index",), "index", None, dict(metavar="ALIAS", help="Index alias on the cluster (default es-ltrr-entities).")),
    (("--username",), "username", None, dict(help="Basic-auth user (password from ES_LTRR_PASSWORD).")),
    (("--ca-certs",), "ca_certs", None, dict(type=click.Path(dir_okay=False), help="CA bundle for TLS.")),
    (("--insecure",), "verify_certs", False, dict(is_flag=True, help="Do not verify TLS certificates.")),
    (("--policy",), "policy", None, dict(type=click.Choice(list(POLICIES)),
         help="Arm-selection policy (default thompson: the static allocation during its burn-in, then learned; "
              "state in <data dir>/policy/<name>.json).")),
    (("--ltr-model",), "ltr_model", None, dict(metavar="NAME", help="Rank with this model stored in the cluster's LTR plugin (sltr).")),
]


def settings_options(*, skip: tuple[str, ...] = ()):
    """Add the settings options to a group or command; given values land in the shared `Ctx`.

    A value given after the command overrides one given before it. `skip` leaves out options
    a command defines with another meaning (`render --flavor` includes "embedded").
    """
    def store(key: str, flag_value: Any):
        def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
            if value is None or value is False:
                return  # not given: keep what an outer level or the environment says
            ctx.ensure_object(Ctx).options[key] = value if flag_value is None else flag_value
        return callback

    def decorate(f):
        for decls, key, flag_value, kwargs in reversed(_SETTINGS_OPTIONS):
            if decls[0] not in skip:
                f = click.option(*decls, expose_value=False,
                                 callback=store(key, flag_value), **kwargs)(f)
        return f
    return decorate


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="es-ltrr", prog_name="es-ltrr", message="%(prog)s %(version)s")
@settings_options()
@click.pass_context
def main(ctx: click.Context) -> None:
    """es-ltrr: learning to rank *and retrieve* for Elasticsearch/OpenSearch.

    Settings options (--cluster, --data-dir, ...) may stand before or after the command.
    """
    ctx.ensure_object(Ctx)
    install_log_scrubber()
    sys.excepthook = _scrubbed_excepthook


def searcher_for(obj: Ctx, settings: Settings | None = None):
    from ..common.datadir import DataDir
    from ..feedback.store import StoreError
    from ..retrieval.engines import EngineError
    from ..serving.wiring import build_searcher

    settings = settings or obj.settings()
    if not settings.catalog.exists() and not DataDir(settings.data_dir).exists():
        fail(f"catalog not found: {settings.catalog}")
    try:
        return build_searcher(settings, say=say)
    except (FileNotFoundError, ValueError, EngineError, StoreError) as exc:  # StoreError: restoring the memory
        fail(str(exc))
