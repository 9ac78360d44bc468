"""Storage: URIs, hashes, staged inputs and atomic job outputs, locally and on a loopback S3 (moto)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import boto3
import pytest
from pydantic import BaseModel

from genmedia import storage
from genmedia.config import StorageConfig
from genmedia.errors import InputError
from genmedia.storage import JobOutput, filesystem, params_hash, stage_input, video_id


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _s3(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


# ------------------------------------------------------------------------------------- keys


def test_output_keys_are_deterministic(tmp_path: Path) -> None:
    a = JobOutput("s3://bucket/out/", "0123456789abcdef", "thumbnails", "a1b2c3d4e5f6")
    b = JobOutput("s3://bucket/out", "0123456789abcdef", "thumbnails", "a1b2c3d4e5f6")
    assert a.uri("frames/001.jpg") == "s3://bucket/out/0123456789abcdef/thumbnails/a1b2c3d4e5f6/frames/001.jpg"
    assert a.uri("frames/001.jpg") == b.uri("frames/001.jpg")
    local = JobOutput(str(tmp_path / "out"), "vid", "trailer", "hash")
    assert local.uri("trailer.mp4") == f"{tmp_path}/out/vid/trailer/hash/trailer.mp4"


def test_params_hash_is_stable_and_order_independent() -> None:
    params = {"count": 3, "width": 1280, "style": {"font": "Inter", "size": 32}, "langs": ["en", "fr"]}
    reordered = {"langs": ["en", "fr"], "style": {"size": 32, "font": "Inter"}, "width": 1280, "count": 3}
    digest = params_hash(params)
    assert digest == params_hash(reordered)
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":")).encode()
    assert digest == hashlib.sha256(canonical).hexdigest()[:12]
    assert digest == "752a7e22ed52"  # pinned: must not change between runs or releases
    assert params_hash({**params, "count": 4}) != digest
    assert len(digest) == 12 and all(c in "0123456789abcdef" for c in digest)


def test_params_hash_accepts_pydantic_models_and_paths() -> None:
    class Params(BaseModel):
        count: int = 3
        out: Path = Path("a/b")

    assert params_hash({"p": Params()}) == params_hash({"p": {"count": 3, "out": "a/b"}})
    with pytest.raises(TypeError, match="object"):
        params_hash({"x": object()})


def test_video_id_is_a_streamed_content_hash(tmp_path: Path) -> None:
    data = os.urandom(2 * storage.CHUNK + 12345)  # spans several 1 MiB blocks
    first, second = tmp_path / "a.mp4", tmp_path / "copy" / "b.mp4"
    second.parent.mkdir()
    first.write_bytes(data)
    second.write_bytes(data)
    assert video_id(first) == video_id(second) == _sha(data)[:16]
    second.write_bytes(data + b"x")
    assert video_id(second) != video_id(first)


# ------------------------------------------------------------------------------ URIs & errors


@pytest.mark.parametrize("uri", ["ftp://host/videos/", "http://example.com/out", "gs://bucket/x"])
def test_unsupported_schemes_name_the_uri_and_the_supported_ones(uri: str) -> None:
    with pytest.raises(InputError) as err:
        filesystem(uri, StorageConfig())
    assert uri in str(err.value) and "s3://" in str(err.value) and "file://" in str(err.value)
    assert err.value.exit_code == 2


def test_local_uris_map_to_absolute_paths(tmp_path: Path) -> None:
    fs, path = filesystem(f"file://{tmp_path}/x", StorageConfig())
    assert path == f"{tmp_path}/x" and fs.protocol[0] == "file"
    assert filesystem("s3://bucket/a/b/", StorageConfig())[1] == "bucket/a/b"
    with pytest.raises(InputError, match="names no bucket"):
        filesystem("s3:///key", StorageConfig())


@pytest.mark.parametrize("name", ["", "../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a\\b", "a/"])
def test_names_must_stay_inside_the_prefix(tmp_path: Path, name: str) -> None:
    out = JobOutput(str(tmp_path), "vid", "job", "hash")
    with pytest.raises(ValueError):
        out.write_bytes(name, b"x")
    with pytest.raises(ValueError):
        out.uri(name)
    assert not any(tmp_path.rglob("*"))


def test_ids_must_be_single_segments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="video_id"):
        JobOutput(str(tmp_path), "../vid", "job", "hash")
    with pytest.raises(ValueError, match="job"):
        JobOutput(str(tmp_path), "vid", "a/b", "hash")


def test_manifest_name_is_reserved(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reserved"):
        JobOutput(str(tmp_path), "vid", "job", "hash").write_bytes("manifest.json", b"{}")


# ---------------------------------------------------------------------------- local outputs


def test_local_writes_are_atomic_and_the_manifest_comes_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    replaced: list[str] = []
    real_replace = os.replace

    def recording_replace(src, dst):
        replaced.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(storage.os, "replace", recording_replace)
    big = tmp_path / "src.bin"
    big.write_bytes(os.urandom(3 * storage.CHUNK + 7))
    out = JobOutput(str(tmp_path / "out"), "vid", "thumbnails", "abc123abc123")
    assert not out.is_done()
    out.write_bytes("a.bin", b"first")
    out.write_text("captions/en.vtt", "WEBVTT\n")
    out.write_json("meta.json", {"frames": [1, 2]})
    out.write_file("video.bin", big)
    out.write_bytes("a.bin", b"second version")  # same name again: replaced, not duplicated
    manifest = out.write_manifest({"backend": "classical"})

    assert replaced[-1] == "manifest.json" and replaced.count("manifest.json") == 1
    prefix = tmp_path / "out" / "vid" / "thumbnails" / "abc123abc123"
    on_disk = sorted(p.relative_to(prefix).as_posix() for p in prefix.rglob("*") if p.is_file())
    assert on_disk == ["a.bin", "captions/en.vtt", "manifest.json", "meta.json", "video.bin"]  # no temp files
    assert [f["name"] for f in manifest["files"]] == ["a.bin", "captions/en.vtt", "meta.json", "video.bin"]
    for entry in manifest["files"]:
        data = (prefix / entry["name"]).read_bytes()
        assert entry["sha256"] == _sha(data) and entry["size"] == len(data)
    assert (prefix / "a.bin").read_bytes() == b"second version"
    assert manifest["backend"] == "classical" and manifest["video_id"] == "vid"
    assert out.is_done()
    assert JobOutput(str(tmp_path / "out"), "vid", "thumbnails", "abc123abc123").read_manifest() == manifest


def test_a_failed_write_leaves_neither_file_nor_temp(tmp_path: Path) -> None:
    target = tmp_path / "d" / "out.bin"
    with pytest.raises(RuntimeError), storage.atomic_local_file(target) as f:
        f.write(b"half")
        raise RuntimeError("encoder died")
    assert list(target.parent.iterdir()) == []


def test_manifest_extra_cannot_override_its_own_fields(tmp_path: Path) -> None:
    out = JobOutput(str(tmp_path), "vid", "job", "hash")
    with pytest.raises(ValueError, match="files"):
        out.write_manifest({"files": []})
    assert not out.is_done()


def test_read_manifest_of_an_unfinished_job(tmp_path: Path) -> None:
    out = JobOutput(str(tmp_path), "vid", "job", "hash")
    out.write_bytes("x", b"1")
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        out.read_manifest()


# ------------------------------------------------------------------------------- S3 outputs


def test_s3_round_trip(s3_server: str, s3_bucket: str, tmp_path: Path) -> None:
    cfg = StorageConfig(s3_endpoint_url=s3_server, s3_region="us-east-1")
    big = tmp_path / "video.mp4"
    big.write_bytes(os.urandom(2 * storage.CHUNK + 3))
    out = JobOutput(f"s3://{s3_bucket}/out", "vid", "trailer", "p1p2p3p4p5p6", cfg)
    assert not out.is_done()
    out.write_bytes("poster.jpg", b"jpeg bytes")
    out.write_json("edl.json", {"cuts": [1.5, 3.0]})
    out.write_file("trailer.mp4", big)
    out.write_bytes("poster.jpg", b"better jpeg")
    manifest = out.write_manifest({"duration_s": 12.5})

    prefix = "out/vid/trailer/p1p2p3p4p5p6/"
    listed = _s3(s3_server).list_objects_v2(Bucket=s3_bucket, Prefix=prefix)["Contents"]
    keys = sorted(o["Key"][len(prefix) :] for o in listed)
    assert keys == ["edl.json", "manifest.json", "poster.jpg", "trailer.mp4"]
    body = _s3(s3_server).get_object(Bucket=s3_bucket, Key=prefix + "trailer.mp4")["Body"].read()
    assert body == big.read_bytes()
    by_name = {f["name"]: f for f in manifest["files"]}
    assert by_name["trailer.mp4"]["sha256"] == _sha(body)
    assert by_name["poster.jpg"] == {"name": "poster.jpg", "size": 11, "sha256": _sha(b"better jpeg")}
    again = JobOutput(f"s3://{s3_bucket}/out", "vid", "trailer", "p1p2p3p4p5p6", cfg)
    assert again.is_done() and again.read_manifest() == manifest
    assert again.read_bytes("poster.jpg") == b"better jpeg"


def test_s3_endpoint_falls_back_to_the_environment(
    s3_server: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    fs, path = filesystem(f"s3://{s3_bucket}/k.txt", StorageConfig())
    fs.pipe_file(path, b"hello")
    assert _s3(s3_server).get_object(Bucket=s3_bucket, Key="k.txt")["Body"].read() == b"hello"


# ----------------------------------------------------------------------------------- inputs


def test_stage_input_local_checks(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    cfg = StorageConfig(cache_dir=str(tmp_path / "cache"))
    assert stage_input(str(video), cfg) == video
    assert stage_input(f"file://{video}", cfg) == video
    empty = tmp_path / "empty.mp4"
    empty.touch()
    cases = {
        str(tmp_path / "nope.mp4"): "does not exist",
        str(tmp_path): "is a directory",
        str(empty): "is empty (0 bytes)",
    }
    for uri, reason in cases.items():
        with pytest.raises(InputError) as err:
            stage_input(uri, cfg)
        assert err.value.source == uri and reason in err.value.reason
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("uri", ["ftp://host/clip.mp4", "rtmp://host/live", "gs://bucket/clip.mp4"])
def test_stage_input_rejects_other_schemes(tmp_path: Path, uri: str) -> None:
    with pytest.raises(InputError) as err:
        stage_input(uri, StorageConfig(cache_dir=str(tmp_path)))
    assert uri in str(err.value) and "s3://" in str(err.value)


def test_stage_input_downloads_from_s3_once(
    s3_server: str, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = StorageConfig(cache_dir=str(tmp_path / "cache"), s3_endpoint_url=s3_server)
    data = os.urandom(storage.CHUNK + 99)
    _s3(s3_server).put_object(Bucket=s3_bucket, Key="videos/clip one.mp4", Body=data)
    uri = f"s3://{s3_bucket}/videos/clip one.mp4"

    staged = stage_input(uri, cfg)
    assert staged.name == "clip one.mp4" and staged.read_bytes() == data
    assert staged.parent.parent == tmp_path / "cache" / "inputs"
    assert [p.name for p in staged.parent.iterdir()] == ["clip one.mp4"]  # no temp files left
    inode = staged.stat().st_ino

    def no_download(*args, **kwargs):
        raise AssertionError("an unchanged object was downloaded again")

    with monkeypatch.context() as m:
        m.setattr(storage, "atomic_local_file", no_download)
        assert stage_input(uri, cfg) == staged
    assert staged.stat().st_ino == inode

    _s3(s3_server).put_object(Bucket=s3_bucket, Key="videos/clip one.mp4", Body=b"new content")
    assert stage_input(uri, cfg).read_bytes() == b"new content"  # a changed ETag is fetched again


def test_stage_input_s3_errors(s3_server: str, s3_bucket: str, tmp_path: Path) -> None:
    cfg = StorageConfig(cache_dir=str(tmp_path / "cache"), s3_endpoint_url=s3_server)
    _s3(s3_server).put_object(Bucket=s3_bucket, Key="empty.mp4", Body=b"")
    _s3(s3_server).put_object(Bucket=s3_bucket, Key="dir/a.mp4", Body=b"x")
    cases = {
        f"s3://{s3_bucket}/missing.mp4": "does not exist",
        f"s3://{s3_bucket}/empty.mp4": "is empty (0 bytes)",
        f"s3://{s3_bucket}/dir": "directory",
    }
    for uri, reason in cases.items():
        with pytest.raises(InputError) as err:
            stage_input(uri, cfg)
        assert err.value.source == uri and reason in err.value.reason
    assert not (tmp_path / "cache" / "inputs").exists() or not any((tmp_path / "cache" / "inputs").rglob("*.mp4"))
