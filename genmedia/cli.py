"""``genmedia ...``: the command line. Every job command follows ``genmedia JOB INPUT [--config F] [--out DIR]``.

Exit codes: 0 success, 2 bad input or usage, 1 internal failure. Errors are one line on stderr,
never a traceback (set ``GENMEDIA_DEBUG=1`` to see one).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from genmedia.config import Config, load_config
from genmedia.errors import GenmediaError
from genmedia.models.cli import app as models_app
from genmedia.schemas import JobResult
from genmedia.serving.cli import app as serve_app

app = typer.Typer(
    name="genmedia",
    help="Generated and enhanced media from a video library, on Ray.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(models_app, name="models", help="List and stage model weights.")
app.add_typer(serve_app, name="serve", help="Run the HTTP API on Ray Serve; `serve build` writes its Serve config.")

err = Console(stderr=True)
out = Console()

ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help="Config file (default: embedded local config).")]
OutOption = Annotated[Optional[str], typer.Option("--out", "-o", help="Output root (overrides storage.root).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a machine-readable result.")]


ForceOption = Annotated[bool, typer.Option("--force", help="Redo the job even if its manifest exists.")]


def config_for(config: Path | None, out_root: str | None = None) -> Config:
    """Load the config and apply the ``--out`` override."""
    overrides = {"storage": {"root": out_root}} if out_root else {}
    return load_config(config, **overrides)


def print_result(result: JobResult, as_json: bool) -> None:
    """End a job command: JSON with ``--json``, else warnings then the one-line summary with the output location."""
    if as_json:
        out.print_json(result.model_dump_json())
        return
    for w in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    out.print(result.summary_line(), highlight=False, soft_wrap=True)


@app.command()
def probe(
    video: Annotated[str, typer.Argument(help="A local media file.")],
    config: ConfigOption = None,
    allow_audio: Annotated[bool, typer.Option("--allow-audio", help="Accept audio-only files.")] = False,
) -> None:
    """Print a media file's validated metadata as JSON."""
    from genmedia.media.probe import probe as probe_file
    from genmedia.storage import stage_input

    cfg = config_for(config)
    info = probe_file(stage_input(video, cfg.storage), cfg.limits, require_video=not allow_audio)
    out.print_json(json.dumps(info.summary()))


@app.command()
def demo(
    out_root: OutOption = None,
    config: ConfigOption = None,
    small: Annotated[bool, typer.Option("--small", help="A shorter, smaller clip (used by the tests).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Make a sample clip with known content and run the jobs on it on a local Ray; write report.html."""
    from genmedia.demo import run_demo

    cfg = config_for(config, out_root)
    result = run_demo(cfg, small=small, console=err)
    if as_json:
        out.print_json(result.model_dump_json())
    else:
        out.print(result.summary_line())


def main() -> None:
    """Console entry point: run the app, turning errors into one line and an exit code."""
    try:
        app()
    except GenmediaError as e:
        if os.environ.get("GENMEDIA_DEBUG"):
            raise
        err.print(f"[red]genmedia: error:[/red] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("genmedia: interrupted")
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, exit 1
        if os.environ.get("GENMEDIA_DEBUG"):
            raise
        err.print(f"[red]genmedia: internal error:[/red] {type(e).__name__}: {e} (GENMEDIA_DEBUG=1 shows a traceback)", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
