"""Storage over fsspec: local paths, ``file://`` and ``s3://`` URIs.

Three jobs live here:

* :func:`filesystem` turns a URI into an fsspec filesystem plus the path that filesystem understands;
* :func:`stage_input` makes an input video available as a local file (S3 objects are downloaded once
  into the cache);
* :class:`JobOutput` writes a job's outputs at deterministic keys
  ``{root}/{video_id}/{job}/{params_hash}/{name}``: every file appears whole or not at all (a temporary
  name then ``os.replace`` locally, a single PUT or a completed multipart upload on S3) and
  ``manifest.json`` is written last; it is the only thing readers trust.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import enum
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePath, PurePosixPath
from typing import IO, Any
from urllib.parse import urlsplit

import fsspec
from fsspec.implementations.local import LocalFileSystem
from pydantic import BaseModel

from genmedia.config import StorageConfig
from genmedia.errors import InputError

CHUNK = 1024 * 1024
"""Block size for hashing and copying (1 MiB)."""

MANIFEST = "manifest.json"
SUPPORTED_SCHEMES = ("a local path", "file://", "s3://")
_SUPPORTED = ", ".join(SUPPORTED_SCHEMES)
_S3_SCHEMES = ("s3", "s3a")
_STAGE_STAMP_SUFFIX = ".source.json"


# ---------------------------------------------------------------------------------------- URIs


def scheme_of(uri: str) -> str:
    """The URI scheme in lower case: ``""`` for a plain local path, else e.g. ``file`` or ``s3``."""
    scheme = urlsplit(str(uri)).scheme.lower()
    # A one-letter "scheme" is a Windows drive letter (C:\\...), i.e. a local path.
    return "" if len(scheme) == 1 else scheme


def is_s3(uri: str) -> bool:
    """Whether ``uri`` names an S3 object or prefix."""
    return scheme_of(uri) in _S3_SCHEMES


def is_local(uri: str) -> bool:
    """Whether ``uri`` is a plain local path or a ``file://`` URI."""
    return scheme_of(uri) in ("", "file")


def local_path(uri: str) -> Path:
    """The absolute local path of a plain path or ``file://`` URI (``~`` expanded)."""
    if scheme_of(uri) == "file":
        return Path(LocalFileSystem._strip_protocol(uri))
    return Path(os.path.abspath(os.path.expanduser(uri)))


def _s3_filesystem(storage: StorageConfig) -> fsspec.AbstractFileSystem:
    endpoint = storage.s3_endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    client_kwargs = {"region_name": storage.s3_region} if storage.s3_region else {}
    # Listings are not cached: "does the manifest exist" must ask the server, not a stale listing.
    return fsspec.filesystem("s3", endpoint_url=endpoint, client_kwargs=client_kwargs, use_listings_cache=False)


def filesystem(uri: str, storage: StorageConfig) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem for ``uri`` and the path within it.

    Local paths and ``file://`` URIs give a local filesystem and an absolute path; ``s3://bucket/key``
    gives s3fs (endpoint from ``storage.s3_endpoint_url``, else ``$AWS_ENDPOINT_URL``; region from
    ``storage.s3_region``) and ``bucket/key``. Any other scheme raises InputError.
    """
    uri = str(uri)
    if is_local(uri):
        return fsspec.filesystem("file"), local_path(uri).as_posix()
    if is_s3(uri):
        parts = urlsplit(uri)
        if not parts.netloc:
            raise InputError(uri, "names no bucket (expected s3://bucket/key)")
        path = f"{parts.netloc}{parts.path}".rstrip("/")
        return _s3_filesystem(storage), path
    raise InputError(uri, f"unsupported URI scheme {scheme_of(uri)!r}; supported: {_SUPPORTED}")


def join_uri(root: str, *names: str) -> str:
    """``root`` and ``names`` joined with ``/`` (no doubled slashes at the joins)."""
    out = str(root).rstrip("/")
    for name in names:
        out = f"{out}/{name.strip('/')}"
    return out


# ----------------------------------------------------------------------------------- hashing


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"params_hash: cannot hash a value of type {type(value).__name__}")


def params_hash(params: Mapping[str, Any]) -> str:
    """12 hex characters of sha256 over the canonical JSON of ``params`` (sorted keys, compact).

    Stable across runs and independent of key order. Pydantic models, paths, enums and sets are
    turned into their JSON forms; any other non-JSON value raises TypeError.
    """
    text = json.dumps(
        params, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of a local file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def video_id(local_path: str | os.PathLike[str]) -> str:
    """The content hash of a local video file: the first 16 hex characters of its sha256."""
    return sha256_file(local_path)[:16]


# ----------------------------------------------------------------------------- local atomics


@contextlib.contextmanager
def atomic_local_file(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path`` in one step.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------------------------------ inputs


def _stage_local(uri: str) -> Path:
    path = local_path(uri)
    if not path.exists():
        raise InputError(uri, "does not exist")
    if path.is_dir():
        raise InputError(uri, "is a directory, expected a video file")
    if path.stat().st_size == 0:
        raise InputError(uri, "is empty (0 bytes)")
    return path


S3_SETTINGS = (
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or an instance role) where genmedia runs, "
    "plus storage.s3_endpoint_url and storage.s3_region for an S3-compatible store"
)
"""What a user sets so that genmedia can read S3: named in the error when it cannot."""


def _s3_setup_error(uri: str, e: Exception) -> InputError | None:
    """The one-line InputError for an S3 set-up the user must fix (credentials, region, endpoint), else None."""
    from botocore import exceptions as boto

    if isinstance(e, boto.NoCredentialsError | boto.PartialCredentialsError | boto.CredentialRetrievalError):
        return InputError(uri, f"no usable S3 credentials ({e}); set {S3_SETTINGS}")
    if isinstance(e, boto.NoRegionError):
        return InputError(
            uri, f"no S3 region configured; set storage.s3_region (or AWS_DEFAULT_REGION), or {S3_SETTINGS}"
        )
    if isinstance(e, boto.EndpointConnectionError):
        return InputError(
            uri, f"cannot reach the S3 endpoint ({e}); check storage.s3_endpoint_url (or AWS_ENDPOINT_URL)"
        )
    return None


def _s3_info(fs: fsspec.AbstractFileSystem, path: str, uri: str) -> dict[str, Any]:
    try:
        info = fs.info(path)
    except FileNotFoundError as e:
        if "bucket does not exist" in str(e) or "NoSuchBucket" in str(e.__cause__ or ""):
            bucket = path.split("/", 1)[0]
            raise InputError(
                uri, f"bucket {bucket!r} does not exist; check the URI, storage.s3_endpoint_url and storage.s3_region"
            ) from None
        raise InputError(uri, "does not exist") from None
    except PermissionError as e:
        raise InputError(uri, f"access denied ({e})") from None
    except OSError as e:
        raise InputError(uri, f"cannot read object ({e})") from None
    except Exception as e:  # noqa: BLE001 - botocore's set-up errors are not OSErrors
        if (setup := _s3_setup_error(uri, e)) is not None:
            raise setup from None
        raise
    if info.get("type") == "directory":
        raise InputError(uri, "is a prefix (directory), expected a video object")
    if not info.get("size"):
        raise InputError(uri, "is empty (0 bytes)")
    return info


def _stage_s3(uri: str, storage: StorageConfig) -> Path:
    fs, path = filesystem(uri, storage)
    info = _s3_info(fs, path, uri)
    source = {"uri": uri, "size": int(info["size"]), "etag": info.get("ETag") or info.get("etag")}
    folder = storage.cache_path / "inputs" / hashlib.sha256(uri.encode("utf-8")).hexdigest()[:16]
    dest = folder / PurePosixPath(path).name
    stamp = folder.with_name(folder.name + _STAGE_STAMP_SUFFIX)
    if _already_staged(dest, stamp, source):
        return dest
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_local_file(dest) as f, fs.open(path, "rb") as src:
        while block := src.read(CHUNK):
            f.write(block)
    got = dest.stat().st_size
    if got != source["size"]:
        dest.unlink()
        raise InputError(uri, f"download was truncated ({got} of {source['size']} bytes)")
    with atomic_local_file(stamp) as f:
        f.write(json.dumps(source).encode("utf-8"))
    return dest


def _already_staged(dest: Path, stamp: Path, source: Mapping[str, Any]) -> bool:
    try:
        recorded = json.loads(stamp.read_text(encoding="utf-8"))
        return recorded == dict(source) and dest.stat().st_size == source["size"]
    except (OSError, ValueError):
        return False


def stage_input(uri: str, storage: StorageConfig) -> Path:
    """Make the input video ``uri`` available as a local file and return its path.

    A local path (or ``file://`` URI) is checked to be a non-empty file. An ``s3://`` object is
    downloaded once into ``{cache}/inputs/<hash of uri>/<basename>`` (temporary name, then rename);
    staging it again while its size and ETag are unchanged does nothing. Any other scheme, a missing,
    empty or directory input raises InputError naming the URI.
    """
    uri = str(uri)
    if is_local(uri):
        return _stage_local(uri)
    if is_s3(uri):
        return _stage_s3(uri, storage)
    raise InputError(uri, f"unsupported input URI scheme {scheme_of(uri)!r}; supported: {_SUPPORTED}")


# ----------------------------------------------------------------------------------- outputs


def _check_segment(kind: str, value: str) -> str:
    if not value or "/" in value or "\\" in value or value in (".", ".."):
        raise ValueError(f"{kind} {value!r} must be a single non-empty path segment")
    return value


def check_name(name: str) -> str:
    """``name`` as a normalised relative POSIX key, or ValueError if it is empty, absolute or escapes."""
    if not name or "\\" in name:
        raise ValueError(f"output name {name!r} must be a non-empty relative name using '/'")
    pure = PurePosixPath(name)
    if pure.is_absolute():
        raise ValueError(f"output name {name!r} must be relative, not absolute")
    if any(part in ("..", ".") for part in name.split("/")) or "" in name.split("/"):
        raise ValueError(f"output name {name!r} must not contain '.', '..' or empty segments")
    return name


class JobOutput:
    """The outputs of one job on one video with one set of parameters.

    Files live at ``{root}/{video_id}/{job}/{params_hash}/{name}``. Each write is atomic (readers never
    see half a file) and is recorded with its size and sha256; :meth:`write_manifest` writes
    ``manifest.json`` last, listing them. A job whose manifest exists (:meth:`is_done`) is complete.
    """

    def __init__(
        self, root: str, video_id: str, job: str, params_hash: str, storage: StorageConfig | None = None
    ) -> None:
        """Outputs under ``root`` (a local path, ``file://`` or ``s3://`` URI); ``storage`` gives S3 settings."""
        self.root = str(root).rstrip("/") or "/"
        self.video_id = _check_segment("video_id", video_id)
        self.job = _check_segment("job", job)
        self.params_hash = _check_segment("params_hash", params_hash)
        self.prefix = join_uri(self.root, self.video_id, self.job, self.params_hash)
        self._fs, self._path = filesystem(self.prefix, storage or StorageConfig())
        self._local = isinstance(self._fs, LocalFileSystem)
        self._files: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"JobOutput({self.prefix!r})"

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        """Every file written so far: name -> ``{"size": int, "sha256": str}`` (a copy)."""
        return {name: dict(meta) for name, meta in self._files.items()}

    def uri(self, name: str) -> str:
        """The URI of output ``name`` (``{root}/{video_id}/{job}/{params_hash}/{name}``)."""
        return f"{self.prefix}/{check_name(name)}"

    def _fs_path(self, name: str) -> str:
        return f"{self._path}/{check_name(name)}"

    def _check_writable(self, name: str) -> str:
        name = check_name(name)
        if name == MANIFEST:
            raise ValueError(f"{MANIFEST!r} is reserved: write it with write_manifest()")
        return name

    def _put_bytes(self, name: str, data: bytes, headers: Mapping[str, str] | None = None) -> None:
        if self._local:
            with atomic_local_file(self._fs_path(name)) as f:
                f.write(data)
        else:
            self._fs.pipe_file(self._fs_path(name), data, **(headers or {}))

    def write_bytes(
        self, name: str, data: bytes, *, content_type: str | None = None, cache_control: str | None = None
    ) -> str:
        """Write ``data`` as output ``name`` atomically; returns its URI.

        ``content_type`` and ``cache_control`` become the object's HTTP headers on S3 and are recorded
        in the manifest's file entry everywhere.
        """
        name = self._check_writable(name)
        data = bytes(data)
        headers = _http_headers(content_type, cache_control)
        self._put_bytes(name, data, headers)
        self._files[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **_header_meta(headers)}
        return self.uri(name)

    def write_text(self, name: str, text: str) -> str:
        """Write ``text`` (UTF-8) as output ``name`` atomically; returns its URI."""
        return self.write_bytes(name, text.encode("utf-8"))

    def write_json(self, name: str, obj: Any) -> str:
        """Write ``obj`` as indented UTF-8 JSON as output ``name`` atomically; returns its URI."""
        return self.write_bytes(name, _dump_json(obj))

    def write_file(
        self,
        name: str,
        local_file: str | os.PathLike[str],
        *,
        content_type: str | None = None,
        cache_control: str | None = None,
    ) -> str:
        """Copy the local file ``local_file`` (of any size) to output ``name`` atomically; returns its URI.

        Locally the copy goes to a temporary name and is renamed into place; on S3 it is one PUT or a
        multipart upload, whose object appears only when complete. ``content_type`` and ``cache_control``
        are handled as in :meth:`write_bytes`.
        """
        name = self._check_writable(name)
        src = Path(local_file)
        headers = _http_headers(content_type, cache_control)
        if not src.is_file():
            raise FileNotFoundError(f"{src}: no such file to write as output {name!r}")
        if self._local:
            meta = self._copy_local(src, self._fs_path(name))
        else:
            meta = {"size": src.stat().st_size, "sha256": sha256_file(src)}
            self._fs.put_file(str(src), self._fs_path(name), **headers)
        self._files[name] = {**meta, **_header_meta(headers)}
        return self.uri(name)

    @staticmethod
    def _copy_local(src: Path, dest: str) -> dict[str, Any]:
        digest, size = hashlib.sha256(), 0
        with open(src, "rb") as fin, atomic_local_file(dest) as fout:
            while block := fin.read(CHUNK):
                digest.update(block)
                size += len(block)
                fout.write(block)
        return {"size": size, "sha256": digest.hexdigest()}

    def write_manifest(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Write ``manifest.json`` (last): ids, every file written with size and sha256, plus ``extra``.

        Returns the manifest. ``extra`` keys must not collide with the manifest's own fields.
        """
        manifest: dict[str, Any] = {
            "video_id": self.video_id,
            "job": self.job,
            "params_hash": self.params_hash,
            "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "files": [{"name": n, **meta} for n, meta in self._files.items()],
        }
        clash = sorted(set(extra or {}) & set(manifest))
        if clash:
            raise ValueError(f"manifest extra fields {clash} collide with the manifest's own fields")
        manifest.update(extra or {})
        self._put_bytes(MANIFEST, _dump_json(manifest))
        return manifest

    def update_manifest(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Rewrite ``manifest.json`` with ``fields`` set (a review's decision); its file list stays as written."""
        manifest = self.read_manifest()
        manifest.update(fields)
        self._put_bytes(MANIFEST, _dump_json(manifest))
        return manifest

    def is_done(self) -> bool:
        """Whether ``manifest.json`` exists (the job completed)."""
        return bool(self._fs.exists(self._fs_path(MANIFEST)))

    def read_manifest(self) -> dict[str, Any]:
        """The parsed ``manifest.json``; FileNotFoundError naming its URI when the job is not done."""
        try:
            data = self._fs.cat_file(self._fs_path(MANIFEST))
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.uri(MANIFEST)}: no manifest (job not complete)") from None
        return json.loads(data)

    def read_bytes(self, name: str) -> bytes:
        """The content of output ``name``."""
        return bytes(self._fs.cat_file(self._fs_path(name)))


def _http_headers(content_type: str | None, cache_control: str | None) -> dict[str, str]:
    """S3 object headers (boto3 parameter names) for the given values."""
    headers = {"ContentType": content_type, "CacheControl": cache_control}
    return {k: v for k, v in headers.items() if v}


def _header_meta(headers: Mapping[str, str]) -> dict[str, str]:
    """Manifest fields for S3 headers: ``content_type`` / ``cache_control``."""
    names = {"ContentType": "content_type", "CacheControl": "cache_control"}
    return {names[k]: v for k, v in headers.items()}


def _dump_json(obj: Any) -> bytes:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default).encode("utf-8")
