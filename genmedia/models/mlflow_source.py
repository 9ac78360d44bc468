"""MLflow Model Registry as a source and a target of model weights, over MLflow's REST API.

A model entry's ``source: mlflow://NAME@ALIAS`` (or ``mlflow://NAME/VERSION``) names a registered model
version on the server given by ``storage.mlflow_tracking_uri`` or ``$MLFLOW_TRACKING_URI``. Each version
genmedia registers carries, as tags, the sha256 of every file (``genmedia.sha256.<relative path>``), the
source the files were staged from, their licence and the weights name; :func:`download` refuses a version
whose files do not match those tags (or that records none).

Only plain HTTP is spoken (``httpx``), so a node that pulls weights needs no ``mlflow`` package; artifacts
go through the server's artifact proxy (``mlflow-artifacts:`` URIs, the default of ``mlflow server``) or,
when the server hands out ``s3://`` or local artifact URIs, straight to that store.
"""

from __future__ import annotations

import os
import re
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

from genmedia.config import Config, StorageConfig
from genmedia.errors import InputError, ModelUnavailable, ServiceUnavailable
from genmedia.storage import CHUNK, check_name, filesystem, sha256_file

SCHEME = "mlflow://"
ENV_URI = "MLFLOW_TRACKING_URI"
DIGEST_TAG = "genmedia.sha256."
SOURCE_TAG = "genmedia.source"
LICENSE_TAG = "genmedia.license"
MODEL_TAG = "genmedia.model"
BACKEND_TAG = "genmedia.backend"
EXPERIMENT = "genmedia-model-registrations"
"""The experiment whose runs hold the files of the versions :func:`register` creates."""
WEIGHTS_DIR = "weights"
READY_TIMEOUT_S = 60.0

_API = "/api/2.0/mlflow"
_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
_MISSING = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE")
"""Error codes that mean "no such model, version or alias" (the server answers an unknown alias with the last)."""
_REF = re.compile(
    r"^mlflow://(?P<name>[A-Za-z0-9][A-Za-z0-9._ -]*?)(?:@(?P<alias>[A-Za-z0-9_-]+)|/(?P<version>[0-9]+))$"
)


@dataclass(frozen=True)
class Ref:
    """A registered model version, by alias or by version number."""

    name: str
    alias: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        return f"{SCHEME}{self.name}@{self.alias}" if self.alias else f"{SCHEME}{self.name}/{self.version}"


def parse_ref(source: str) -> Ref:
    """Parse ``mlflow://NAME@ALIAS`` or ``mlflow://NAME/VERSION``; InputError for anything else."""
    match = _REF.match(source)
    if not match:
        raise InputError(source, "expected mlflow://NAME@ALIAS or mlflow://NAME/VERSION (a version number)")
    return Ref(match["name"], match["alias"], match["version"])


@dataclass(frozen=True)
class Version:
    """One registered model version as the server describes it."""

    name: str
    version: str
    source: str
    """Where the version's files are (an artifact URI)."""
    run_id: str | None
    status: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def digests(self) -> dict[str, str]:
        """Relative file path -> sha256, as recorded on the version."""
        return {k[len(DIGEST_TAG) :]: v for k, v in self.tags.items() if k.startswith(DIGEST_TAG)}

    @property
    def ref(self) -> Ref:
        """This version, pinned by number."""
        return Ref(self.name, version=self.version)


def tracking_uri(storage: StorageConfig) -> str:
    """The MLflow server: ``storage.mlflow_tracking_uri``, else ``$MLFLOW_TRACKING_URI``; InputError when neither."""
    uri = storage.mlflow_tracking_uri or os.environ.get(ENV_URI, "")
    if not uri:
        raise InputError(
            "storage.mlflow_tracking_uri", f"mlflow:// sources need an MLflow server: set it in the config or {ENV_URI}"
        )
    if urllib.parse.urlsplit(uri).scheme not in ("http", "https"):
        raise InputError(uri, "the MLflow tracking URI must be an http(s):// server (mlflow server ...)")
    return uri.rstrip("/")


def _credentials() -> tuple[dict[str, str], httpx.BasicAuth | None]:
    """Headers and auth from MLflow's own variables: ``MLFLOW_TRACKING_TOKEN`` or ``_USERNAME``/``_PASSWORD``."""
    if token := os.environ.get("MLFLOW_TRACKING_TOKEN"):
        return {"Authorization": f"Bearer {token}"}, None
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    return {}, httpx.BasicAuth(user, os.environ.get("MLFLOW_TRACKING_PASSWORD", "")) if user else None


class Client:
    """A registry client for one MLflow server: every error is one line naming the server."""

    def __init__(self, uri: str, storage: StorageConfig, timeout_s: float = 30.0) -> None:
        self.uri = uri
        self.storage = storage
        headers, auth = _credentials()
        self.http = httpx.Client(base_url=uri, timeout=timeout_s, headers=headers, auth=auth)

    @classmethod
    def from_config(cls, storage: StorageConfig) -> Client:
        """A client for the server the config (or ``$MLFLOW_TRACKING_URI``) names."""
        return cls(tracking_uri(storage), storage)

    def close(self) -> None:
        """Close the HTTP connections."""
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ transport

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise ServiceUnavailable(f"MLflow server {self.uri} is unreachable ({type(e).__name__}: {e})") from None

    def _call(self, method: str, endpoint: str, missing: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """One REST call; ``missing`` is the message of a RESOURCE_DOES_NOT_EXIST answer."""
        response = self._send(method, f"{_API}/{endpoint}", **kwargs)
        if response.is_success:
            return response.json()
        error, message = _error_of(response)
        if missing and response.status_code in (400, 404) and error in _MISSING:
            raise ModelUnavailable(f"{missing} on MLflow server {self.uri}")
        if response.status_code >= 500:
            raise ServiceUnavailable(f"MLflow server {self.uri} failed: {endpoint} answered {response.status_code}")
        raise ModelUnavailable(f"MLflow server {self.uri}: {endpoint}: {error or response.status_code}: {message}")

    # ------------------------------------------------------------------------------ registry

    def version(self, ref: Ref) -> Version:
        """The version ``ref`` names (an alias is looked up now); ModelUnavailable when there is none."""
        if ref.alias:
            body = self._call(
                "GET",
                "registered-models/alias",
                missing=f"registered model {ref.name!r} has no alias {ref.alias!r} (or does not exist)",
                params={"name": ref.name, "alias": ref.alias},
            )
        else:
            body = self._call(
                "GET",
                "model-versions/get",
                missing=f"registered model {ref.name!r} has no version {ref.version}",
                params={"name": ref.name, "version": ref.version},
            )
        return _version_of(body["model_version"])

    def set_alias(self, name: str, version: str, alias: str) -> Version:
        """Point ``alias`` of model ``name`` at ``version`` (which must exist) and return that version."""
        target = self.version(Ref(name, version=version))
        self._call("POST", "registered-models/alias", json={"name": name, "alias": alias, "version": version})
        return target

    def _create_model(self, name: str) -> None:
        response = self._send("POST", f"{_API}/registered-models/create", json={"name": name})
        if response.is_success or _error_of(response)[0] == "RESOURCE_ALREADY_EXISTS":
            return
        self._call("GET", "registered-models/get", missing=f"registered model {name!r}", params={"name": name})

    def _experiment_id(self) -> str:
        response = self._send("GET", f"{_API}/experiments/get-by-name", params={"experiment_name": EXPERIMENT})
        if response.is_success:
            return str(response.json()["experiment"]["experiment_id"])
        return str(self._call("POST", "experiments/create", json={"name": EXPERIMENT})["experiment_id"])

    def create_version(
        self, name: str, files: Mapping[str, Path], digests: Mapping[str, str], tags: Mapping[str, str]
    ) -> Version:
        """Upload ``files`` (relative path -> local file) as a new version of ``name``, tagged with their digests."""
        self._create_model(name)
        run = self._call(
            "POST",
            "runs/create",
            json={"experiment_id": self._experiment_id(), "run_name": f"register {name}", "start_time": _now_ms()},
        )["run"]["info"]
        weights = f"{run['artifact_uri'].rstrip('/')}/{WEIGHTS_DIR}"
        for relative, path in sorted(files.items()):
            self._put(f"{weights}/{relative}", path)
        self._call("POST", "runs/update", json={"run_id": run["run_id"], "status": "FINISHED", "end_time": _now_ms()})
        all_tags = {**tags, **{f"{DIGEST_TAG}{k}": v for k, v in digests.items()}}
        body = self._call(
            "POST",
            "model-versions/create",
            json={"name": name, "source": weights, "run_id": run["run_id"], "tags": _tag_list(all_tags)},
        )
        return self._wait_ready(_version_of(body["model_version"]))

    def _wait_ready(self, version: Version) -> Version:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while version.status == "PENDING_REGISTRATION" and time.monotonic() < deadline:
            time.sleep(0.5)
            version = self.version(version.ref)
        if version.status != "READY":
            raise ModelUnavailable(f"{version.ref} on MLflow server {self.uri} is {version.status}, not READY")
        return version

    # ----------------------------------------------------------------------------- artifacts

    def _proxy_path(self, uri: str) -> str | None:
        """The artifact-proxy path of an ``mlflow-artifacts:`` URI (None for other stores)."""
        parts = urllib.parse.urlsplit(uri)
        return parts.path.lstrip("/") if parts.scheme == "mlflow-artifacts" else None

    def _put(self, uri: str, path: Path) -> None:
        proxied = self._proxy_path(uri)
        if proxied is None:
            fs, target = filesystem(uri, self.storage)
            fs.put_file(path.as_posix(), target)
            return
        with open(path, "rb") as handle:
            response = self._send("PUT", f"{_ARTIFACTS}/{urllib.parse.quote(proxied)}", content=_chunks(handle))
        if not response.is_success:
            raise ServiceUnavailable(f"MLflow server {self.uri} refused an upload to {uri} ({response.status_code})")

    def _list(self, uri: str) -> list[str]:
        """Relative paths of every file under artifact directory ``uri``."""
        proxied = self._proxy_path(uri)
        if proxied is None:
            fs, root = filesystem(uri, self.storage)
            return sorted(p[len(root) :].lstrip("/") for p in fs.find(root))
        found, pending = [], [""]
        while pending:
            sub = pending.pop()
            path = f"{proxied}/{sub}".rstrip("/")
            response = self._send("GET", _ARTIFACTS, params={"path": path})
            if not response.is_success:
                raise ServiceUnavailable(f"MLflow server {self.uri} cannot list {uri} ({response.status_code})")
            for item in response.json().get("files", []):
                relative = f"{sub}/{item['path'].rsplit('/', 1)[-1]}".lstrip("/")
                (pending if item.get("is_dir") else found).append(relative)
        return sorted(found)

    def _get(self, uri: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        proxied = self._proxy_path(uri)
        if proxied is None:
            fs, path = filesystem(uri, self.storage)
            fs.get_file(path, dest.as_posix())
            return
        try:
            with self.http.stream("GET", f"{_ARTIFACTS}/{urllib.parse.quote(proxied)}") as response:
                if not response.is_success:
                    raise ServiceUnavailable(f"MLflow server {self.uri} cannot send {uri} ({response.status_code})")
                with open(dest, "wb") as out:
                    out.writelines(response.iter_bytes(CHUNK))
        except httpx.HTTPError as e:
            raise ServiceUnavailable(f"MLflow server {self.uri} is unreachable ({type(e).__name__}: {e})") from None

    def download(self, version: Version, into: Path) -> dict[str, Path]:
        """Download ``version``'s files into ``into`` and check each against the digest recorded on the version.

        Returns relative path -> local file. ModelUnavailable when the version records no digests, when a
        file has none or a recorded file is absent, or when a digest differs (the caller discards ``into``).
        """
        expected = version.digests
        if not expected:
            raise ModelUnavailable(f"{version.ref} on {self.uri} records no file digests (genmedia.sha256.* tags)")
        listed = self._list(version.source)
        unrecorded, absent = sorted(set(listed) - set(expected)), sorted(set(expected) - set(listed))
        if unrecorded or absent:
            what = f"files without a recorded digest: {', '.join(unrecorded)}" if unrecorded else ""
            what += ("; " if what else "") + (f"recorded files absent: {', '.join(absent)}" if absent else "")
            raise ModelUnavailable(f"{version.ref} on {self.uri}: {what}; refusing it")
        files = {}
        for relative in listed:
            check_name(relative)
            dest = into / relative
            self._get(f"{version.source.rstrip('/')}/{relative}", dest)
            actual = sha256_file(dest)
            if actual != expected[relative]:
                raise ModelUnavailable(
                    f"{version.ref} on {self.uri}: {relative} has sha256 {actual}, the version records "
                    f"{expected[relative]}; refusing it"
                )
            files[relative] = dest
        return files


def pin(cfg: Config, key: str, source: str | None = None) -> Config:
    """``cfg`` with model ``key``'s ``mlflow://`` source (or ``source``) pinned: the version number an alias
    points at now, and the file digests recorded on that version as the entry's ``files``.

    Other sources, and entries already pinned (a version number and ``files``), come back unchanged without
    asking the server. A digest the config lists that differs from the version's refuses the version.
    """
    entry = cfg.model(key)
    wanted = source or entry.source
    if not wanted or not wanted.startswith(SCHEME):
        return cfg
    ref = parse_ref(wanted)
    if ref.version and entry.files and source is None:
        return cfg
    with Client.from_config(cfg.storage) as client:
        version = client.version(ref)
    recorded = version.digests
    if not recorded:
        raise ModelUnavailable(f"{version.ref} on {tracking_uri(cfg.storage)} records no file digests; refusing it")
    conflicts = sorted(name for name, digest in entry.files.items() if recorded.get(name) != digest)
    if conflicts:
        raise ModelUnavailable(
            f"{version.ref}: models.{key}.files lists digests for {', '.join(conflicts)} that the version does not record"
        )
    pinned = entry.model_copy(update={"source": str(version.ref), "files": recorded})
    return cfg.model_copy(update={"models": {**cfg.models, key: pinned}})


def download(source: str, storage: StorageConfig, into: Path) -> Path:
    """Download the version ``source`` names into the new directory ``into``, verified against its tags."""
    with Client.from_config(storage) as client:
        client.download(client.version(parse_ref(source)), into)
    return into


def _chunks(handle: Any) -> Iterator[bytes]:
    while block := handle.read(CHUNK):
        yield block


def _now_ms() -> int:
    return int(time.time() * 1000)


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text.strip().splitlines()[0] if response.text.strip() else ""
    return str(body.get("error_code", "")), str(body.get("message", "")).splitlines()[0] if body.get("message") else ""


def _version_of(raw: Mapping[str, Any]) -> Version:
    return Version(
        name=str(raw["name"]),
        version=str(raw["version"]),
        source=str(raw.get("source", "")),
        run_id=raw.get("run_id") or None,
        status=str(raw.get("status", "READY")),
        tags={t["key"]: t.get("value", "") for t in raw.get("tags", [])},
        aliases=tuple(raw.get("aliases", [])),
    )


__all__ = ["Client", "Ref", "Version", "download", "parse_ref", "pin", "tracking_uri"]
