"""Hardening of the HTTP API against an outside probe, on a real Serve app (the session's Ray, proxy on loopback).

Every refused request is checked for its status, a message naming the field, nothing stored (no job record, no
upload file or folder) and a server still healthy afterwards.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from serve_fixtures import API_KEY, Api, free_port, poll_job, serve_test_config, serving

from genmedia.jobs.records import JobStore

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def api(ray_session) -> Iterator[Api]:  # noqa: ANN001
    cfg = serve_test_config(ray_session)
    # An S3 endpoint nobody listens on: an s3:// input fails on credentials or on the endpoint, never reaches AWS.
    cfg = cfg.model_copy(
        update={"storage": cfg.storage.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{free_port()}"})}
    )
    with serving(cfg) as api:
        yield api


def _stored(api: Api) -> tuple[int, list[str]]:
    """What the server has kept: the number of job records, and every path under the uploads folder."""
    jobs = sum(JobStore.from_config(api.cfg).counts().values())
    uploads = Path(api.cfg.storage.root) / "uploads"
    return jobs, sorted(str(p.relative_to(uploads)) for p in uploads.rglob("*")) if uploads.exists() else []


@pytest.fixture
def refused(api: Api) -> Iterator[None]:
    """Around a test of refused requests: nothing is stored, and the server still answers."""
    before = _stored(api)
    yield
    assert _stored(api) == before, "a refused request stored something"
    assert httpx.get(f"{api.url}/healthz", timeout=30).status_code == 200
    with api.client() as c:
        assert c.get("/v1/jobs/" + "0" * 32).status_code == 404


def _post_raw(api: Api, path: str, body: bytes) -> httpx.Response:
    with api.client() as c:
        return c.post(path, content=body, headers={"Content-Type": "application/json"})


def _status_line(api: Api, request: bytes) -> str:
    host, port = api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(request)
        return sock.makefile("rb").readline().decode()


# ------------------------------------------------------------------------------------------ SSRF

ISSUE_FORMS = [
    "https://[::127.0.0.1]/x.mp4",
    "https://[64:ff9b::7f00:1]/x.mp4",
    "https://[64:ff9b::a9fe:a9fe]/x.mp4",
    "https://[2002:7f00:1::]/x.mp4",
    "https://[fec0::1]/x.mp4",
    "https://[64:ff9b:1::a9fe:a9fe]/x.mp4",
    "https://[::ffff:0:7f00:1]/x.mp4",
    "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/x.mp4",
]


@pytest.mark.parametrize("uri", ISSUE_FORMS)
def test_ipv6_forms_reaching_private_hosts_are_refused(api: Api, refused: None, uri: str) -> None:
    with api.client() as c:
        as_video = c.post("/v1/jobs", json={"video": uri, "job": "analyze"})
        as_music = c.post("/v1/jobs", json={"video": "s3://inputs/x.mp4", "job": "trailer", "params": {"music": uri}})
    for resp in (as_video, as_music):
        assert resp.status_code == 400, resp.text
        assert uri in resp.json()["detail"] and "non-public address" in resp.json()["detail"]


# -------------------------------------------------------------------------------- bad text, bad numbers


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"video": "s3://inputs/x.mp4", "job": "\\ud800"}', "job"),
        (b'{"video": "\\ud800", "job": "analyze"}', "video"),
        (b'{"video": "s3://inputs/x.mp4\\udfff", "job": "analyze"}', "video"),
        (b'{"video": "s3://inputs/x.mp4", "job": "thumbnails", "params": {"title": "a\\ud800b"}}', "params.title"),
        (b'{"video": "s3://inputs/x.mp4", "job": "thumbnails", "params": {"title": "a\\u0000b"}}', "params.title"),
        (b'{"video": "s3://inputs/x.mp4", "job": "trailer", "params": {"title": "line\\nbreak"}}', "params.title"),
        (b'{"video": "s3://inputs/x.mp4\\u0007", "job": "analyze"}', "video"),
    ],
)
def test_lone_surrogates_and_control_characters_are_422(api: Api, refused: None, body: bytes, field: str) -> None:
    resp = _post_raw(api, "/v1/jobs", body)
    assert resp.status_code == 422, resp.text
    assert field.split(".")[0] in json.dumps(resp.json()["detail"][0]["loc"]) and field in resp.text


def test_control_characters_in_translate_text_are_422(api: Api, refused: None) -> None:
    resp = _post_raw(api, "/v1/translate", b'{"text": "hello\\u0000", "target": "fr"}')
    assert resp.status_code == 422 and "text" in resp.text and "U+0000" in resp.text, resp.text


@pytest.mark.parametrize(
    ("job", "params", "field"),
    [
        ("analyze", '{"min_shot_seconds": Infinity}', "min_shot_seconds"),
        ("analyze", '{"min_shot_seconds": -Infinity}', "min_shot_seconds"),
        ("analyze", '{"min_shot_seconds": 1e999}', "min_shot_seconds"),
        ("analyze", '{"min_shot_seconds": 1e308}', "min_shot_seconds"),
        ("analyze", '{"min_shot_seconds": NaN}', "min_shot_seconds"),
        ("analyze", '{"sample_fps": 1e308}', "sample_fps"),
        ("analyze", '{"cut_sensitivity": NaN}', "cut_sensitivity"),
        ("subtitles", '{"shot_changes": [1.0, NaN]}', "shot_changes"),
        ("subtitles", '{"shot_changes": [1e308]}', "shot_changes"),
        ("subtitles", '{"shot_changes": [' + ",".join(["0.5"] * 20_001) + "]}", "shot_changes"),
        ("trailer", '{"duration": Infinity}', "duration"),
        ("trailer", '{"spoiler_fraction": NaN}', "spoiler_fraction"),
        ("enhance", '{"fps": NaN}', "fps"),
        ("enhance", '{"denoise": Infinity}', "denoise"),
        ("thumbnails", '{"seed": 100000000000000000000000000000}', "seed"),
    ],
)
def test_non_finite_absurd_numbers_and_long_lists_are_refused(
    api: Api, refused: None, job: str, params: str, field: str
) -> None:
    body = f'{{"video": "s3://inputs/x.mp4", "job": "{job}", "params": {params}}}'.encode()
    resp = _post_raw(api, "/v1/jobs", body)
    assert resp.status_code in (400, 422), resp.text
    assert field in resp.json()["detail"], resp.text


# ------------------------------------------------------------------------------------ sizes


def test_json_body_over_the_cap_is_413_before_parsing(api: Api, refused: None) -> None:
    cap = api.cfg.serve.max_json_bytes
    million = (
        '{"video": "s3://inputs/x.mp4", "job": "subtitles", "params": {"shot_changes": ['
        + ",".join(["0.5"] * 1_000_000)
        + "]}}"
    )
    resp = _post_raw(api, "/v1/jobs", million.encode())
    assert resp.status_code == 413 and "serve.max_json_bytes" in resp.text, resp.text
    # A declared 60 MB body is refused from the headers alone: no byte of it is sent.
    head = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {60 * 1024**2}\r\n\r\n"
    ).encode()
    assert _status_line(api, head).split()[1] == "413"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        yield b'{"video": "s3://inputs/x.mp4", "job": "analyze", "params": {"x": "'
        for _ in range(cap // 65536 + 2):
            yield b"y" * 65536
        yield b'"}}'

    with api.client() as c:
        resp = c.post("/v1/jobs", content=chunks(), headers={"Content-Type": "application/json"})
    assert resp.status_code == 413 and "serve.max_json_bytes" in resp.text, resp.text


@pytest.mark.parametrize("size", [64 * 1024, 1024**2])
def test_oversized_headers_are_431(api: Api, refused: None, size: int) -> None:
    with api.client() as c:
        resp = c.post("/v1/jobs", json={"video": "s3://inputs/x.mp4", "job": "analyze"}, headers={"X-Junk": "a" * size})
    assert resp.status_code == 431 and "serve.max_header_bytes" in resp.text, resp.text


def test_empty_or_refused_upload_leaves_nothing(api: Api, refused: None) -> None:
    cap = api.cfg.serve.max_upload_bytes
    with api.client() as c:
        empty = c.post("/v1/uploads", params={"name": "empty.mp4"}, content=b"")
        assert empty.status_code == 400 and "empty upload" in empty.text

        def chunks() -> Iterator[bytes]:  # streamed past the cap: refused half-way
            for _ in range(cap // 4096 + 2):
                yield b"y" * 4096

        assert c.post("/v1/uploads", params={"name": "big.mp4"}, content=chunks()).status_code == 413


# --------------------------------------------------------------------------------- what GET shows


def test_job_view_shows_api_paths_not_server_paths(api: Api) -> None:
    root = str(Path(api.cfg.storage.root).resolve())
    with api.client() as c:
        upload = c.post("/v1/uploads", params={"name": "junk.mp4"}, content=b"not a video at all" * 50).json()
        job = c.post("/v1/jobs", json={"video": upload["id"], "job": "analyze"}).json()
        view = poll_job(c, job["id"])
        raw = c.get(f"/v1/jobs/{job['id']}").text
    assert view["status"] == "failed" and view["video"] == f"upload:{upload['id']}", view
    assert f"upload:{upload['id']} (junk.mp4)" in view["error"], view
    assert root not in raw and str(api.cfg.storage.cache_path) not in raw and "/uploads/" not in raw, raw


def test_s3_input_without_credentials_fails_with_the_settings_to_provide(api: Api) -> None:
    with api.client() as c:
        job = c.post("/v1/jobs", json={"video": "s3://inputs/x.mp4", "job": "analyze"}).json()
        view = poll_job(c, job["id"])
    assert view["status"] == "failed", view
    error = view["error"]
    assert "internal error" not in error and "\n" not in error and error.startswith("s3://inputs/x.mp4: "), error
    assert "AWS_ACCESS_KEY_ID" in error or "storage.s3_endpoint_url" in error, error


# ------------------------------------------------------------------------------------------ fuzz

FUZZ_SECONDS = 60.0


def _resolved(schema: object, components: dict) -> object:
    """``schema`` with every ``#/components/schemas/...`` reference inlined."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _resolved(components[schema["$ref"].rsplit("/", 1)[-1]], components)
        return {k: _resolved(v, components) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_resolved(v, components) for v in schema]
    return schema


def _from_schema(schema: dict) -> object:
    """A hypothesis strategy for values of a (resolved) OpenAPI schema: the types, lengths, bounds and enums FastAPI
    writes for pydantic models, with any extra key now and then (hypothesis-jsonschema does not run on hypothesis 6.170)."""
    from hypothesis import strategies as st

    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return st.one_of(*[_from_schema(s) for s in schema[key]])
    kind = schema.get("type")
    if kind == "string":
        return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 64), 64))
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum")) | st.integers()
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum")) | st.floats()
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(_from_schema(schema.get("items", {})), max_size=5)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        extra = schema.get("additionalProperties")
        values = _from_schema(extra) if isinstance(extra, dict) else st.text(max_size=8)
        return st.fixed_dictionaries(
            {k: _from_schema(v) for k, v in props.items() if k in required},
            optional={
                **{k: _from_schema(v) for k, v in props.items() if k not in required},
                "unexpected": st.integers(),
            },
        ) | st.dictionaries(st.text(max_size=12), values, max_size=4)
    return st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=16)


@pytest.mark.slow
def test_fuzz_the_openapi_schema_gives_no_5xx(api: Api) -> None:
    """Property-based fuzz, bounded to about a minute (the slowest test here): for every route of the OpenAPI schema,
    bodies drawn from its request schema, from any JSON, and raw bytes (bad JSON, NaN, lone surrogates, NULs), path
    and query values of any text. No answer is a 5xx, and the server is healthy afterwards."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    spec = httpx.get(f"{api.url}/openapi.json", timeout=30).json()
    components = spec.get("components", {}).get("schemas", {})
    routes = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            params = [p["name"] for p in op.get("parameters", []) if p["in"] in ("path", "query")]
            routes.append((method.upper(), path, _resolved(body, components) if body else None, params))
    assert any(p == "/v1/jobs" and m == "POST" for m, p, _, _ in routes)

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )
    raw = st.sampled_from(
        [
            b'{"video": "\\ud800", "job": "analyze"}',
            b'{"job": NaN}',
            b"{",
            b"\x00\xff\xfe",
            b"[]",
            b"null",
            b'{"video": "s3://inputs/x.mp4", "job": "analyze", "params": {"min_shot_seconds": 1e999}}',
        ]
    ) | st.binary(max_size=64)

    def body_for(schema: dict | None) -> st.SearchStrategy:
        drawn = [json_values.map(lambda v: ("json", v)), raw.map(lambda b: ("raw", b))]
        if schema is not None:
            drawn.insert(0, _from_schema(schema).map(lambda v: ("json", v)))
        return st.one_of(*drawn)

    requests = st.one_of(
        *[
            st.tuples(
                st.just(m), st.just(p), body_for(s), st.fixed_dictionaries({n: st.text(max_size=40) for n in params})
            )
            for m, p, s, params in routes
        ]
    )
    deadline = time.monotonic() + FUZZ_SECONDS
    failures: list[str] = []
    sent: list[int] = []
    client = api.client()

    @settings(max_examples=1500, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(requests)
    def one(request: tuple) -> None:
        if time.monotonic() > deadline:
            return
        method, path, (kind, body), values = request
        url = path
        for name, value in values.items():
            if "{" + name + "}" in url:
                url = url.replace("{" + name + "}", quote(value, safe="") or "x")
        query = {n: v for n, v in values.items() if "{" + n + "}" not in path}
        content = json.dumps(body).encode() if kind == "json" else body  # NaN and Infinity as Python writes them
        if method in ("POST", "PUT", "PATCH"):
            resp = client.request(
                method, url, params=query, content=content, headers={"Content-Type": "application/json"}
            )
        else:
            resp = client.request(method, url, params=query)
        sent.append(resp.status_code)
        if resp.status_code >= 500:
            failures.append(f"{method} {url} {body!r:.200} -> {resp.status_code} {resp.text[:200]}")

    try:
        one()
    finally:
        client.close()
    assert failures == [], "\n".join(failures[:10])
    assert len(sent) >= 50, f"only {len(sent)} requests were sent"  # the fuzz really ran
    print(f"fuzz: {len(sent)} requests, statuses {sorted(set(sent))}")
    assert httpx.get(f"{api.url}/healthz", timeout=30).status_code == 200
    with api.client() as c:
        assert c.get("/v1/jobs/" + "0" * 32).status_code == 404
