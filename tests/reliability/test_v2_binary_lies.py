"""Item 29: V2 binary tensor extension lies, each a 400 ``{"error": ...}``, never a 5xx or a hang.

Every lie is one named case (``test_a_lie_is_a_400_on_both_paths[header-2**62]``): the
``Inference-Header-Content-Length`` header larger than the body, negative, not a number, huge,
empty, signed or spaced; ``binary_data_size`` values that do not add up (too small, too large,
negative, missing on one of two binary inputs, not an integer); shapes whose product disagrees
with the data (JSON and binary), negative or huge dimensions; a BYTES element whose length prefix
runs past the end; a datatype the model does not take; odd requested outputs. Each goes to the
pure-ASGI fast path (``InferFastPath``) and to FastAPI's route (``fast_and_route_clients``): both
must answer 400 with exactly ``{"error": message}``, the same bytes, the message naming the
problem. Odd but valid output requests must be a 200 whose binary framing adds up.

Against a real uvicorn server the header lies are sent on a raw socket with an exact
``Content-Length`` (the framing of the body is then what the HTTP parser sees), each must be
answered (a 60 s socket timeout turns a hang into a failure), and the server's peak memory
(``VmHWM``) must barely move: a header length of 2**62 or a ``binary_data_size`` of 1 GiB
allocates nothing.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from helpers.fast_path import fast_and_route_clients
from helpers.server import Server

from mlp_engine import MLPClassifier, MLPRegressor

logger = logging.getLogger(__name__)

HEADER = "Inference-Header-Content-Length"
OCTETS = "application/octet-stream"
MAX_ROWS = 50
MEMORY_BOUND = 16 * 2**20  # what the lies may add to the server's peak memory, all together


# ------------------------------------------------------------------------------------ models


def _models() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    size = rng.normal(size=60)
    colour = rng.choice(["red", "green", "blue"], 60)
    quick = {"hidden_layers": (4,), "epochs": 10, "seed": 0}
    return {
        "numeric": MLPClassifier(**quick).fit(X, (X[:, 0] > 0).astype(int)),
        "table": MLPClassifier(**quick).fit(
            {"size": size, "colour": colour}, (colour == "red").astype(int)
        ),
        "regressor": MLPRegressor(**quick).fit(X, X[:, 0] - X[:, 1]),
    }


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    return _models()


# ------------------------------------------------------------------------------------ bodies


def _dumps(doc: dict[str, Any]) -> bytes:
    """JSON text; the standard library's, since orjson cannot write integers past 64 bits."""
    return json.dumps(doc, separators=(",", ":")).encode()


def _framed(doc: dict[str, Any], *chunks: bytes) -> tuple[bytes, dict[str, str]]:
    """A JSON header followed by binary chunks, with an honest header length."""
    head = _dumps(doc)
    return head + b"".join(chunks), {HEADER: str(len(head)), "Content-Type": OCTETS}


def _tensor(name: str, datatype: str, shape: list[Any], **parameters: Any) -> dict[str, Any]:
    """An input tensor; a parameter given as ``...`` is left out."""
    kept = {key: value for key, value in parameters.items() if value is not ...}
    return {"name": name, "datatype": datatype, "shape": shape, "parameters": kept}


def _strings(*values: bytes) -> bytes:
    """BYTES binary data: each element a 4-byte little-endian length, then its bytes."""
    return b"".join(struct.pack("<I", len(v)) + v for v in values)


FLOATS = np.array([[0.5, -1.0], [1.5, 0.25]], dtype="<f8").tobytes()  # a [2, 2] FP64 tensor
SIZES = np.array([0.3, -1.0], dtype="<f4").tobytes()  # the table's `size`, [2, 1] FP32
COLOURS = _strings(b"red", b"blue")  # the table's `colour`, [2] BYTES


def numeric_body(**parameters: Any) -> tuple[bytes, dict[str, str]]:
    """The numeric model's good binary request (``parameters`` override binary_data_size)."""
    sizes = {"binary_data_size": len(FLOATS), **parameters}
    return _framed({"inputs": [_tensor("input", "FP64", [2, 2], **sizes)]}, FLOATS)


def table_body(
    size: dict[str, Any] | None = None,
    colour: dict[str, Any] | None = None,
    *,
    data: bytes = b"",
    **extra: Any,
) -> tuple[bytes, dict[str, str]]:
    """The table model's good binary request with two binary inputs (parameters overridable,
    ``data`` replacing the colour column's bytes, ``extra`` top-level fields)."""
    colours = data or COLOURS
    doc = {
        "inputs": [
            _tensor("size", "FP32", [2, 1], **{"binary_data_size": len(SIZES), **(size or {})}),
            _tensor("colour", "BYTES", [2], **{"binary_data_size": len(colours), **(colour or {})}),
        ],
        **extra,
    }
    return _framed(doc, SIZES, colours)


def json_body(tensor: dict[str, Any], **extra: Any) -> tuple[bytes, dict[str, str]]:
    """A JSON-only request with one input tensor."""
    return _dumps({"inputs": [tensor], **extra}), {"Content-Type": "application/json"}


def rows(**extra: Any) -> tuple[bytes, dict[str, str]]:
    """Two good JSON rows for the numeric models, with ``extra`` top-level fields."""
    tensor = {"name": "input", "datatype": "FP64", "shape": [2, 2], "data": [[0.5, -1], [1, 2]]}
    return json_body(tensor, **extra)


def with_header(value: str | bytes) -> tuple[bytes, dict[str, Any]]:
    """The numeric model's good binary body under a lying header value."""
    body, headers = numeric_body()
    return body, {**headers, HEADER: value}


# ------------------------------------------------------------------------------------ cases


@dataclass(frozen=True)
class Lie:
    """One hostile request: the model it goes to, its body and headers, and a fragment the
    400's message must hold (it names the problem)."""

    model: str
    request: tuple[bytes, dict[str, Any]]
    names: str
    extra_headers: list[tuple[str, str]] = field(default_factory=list)


def _header_lies() -> dict[str, Lie]:
    good, _ = numeric_body()
    head_length = len(good) - len(FLOATS)
    return {
        "header-longer-than-body": Lie("numeric", with_header(str(len(good) + 1)), HEADER),
        "header-2**62": Lie("numeric", with_header(str(2**62)), HEADER),
        "header-10**30": Lie("numeric", with_header(str(10**30)), HEADER),
        "header-5000-digits": Lie("numeric", with_header("9" * 5000), HEADER),
        "header-5000-digit-zeros": Lie("numeric", with_header("0" * 4990 + "1"), HEADER),
        "header-negative": Lie("numeric", with_header("-5"), HEADER),
        "header-minus-zero": Lie("numeric", with_header("-0"), HEADER),
        "header-zero": Lie("numeric", with_header("0"), HEADER),
        "header-not-a-number": Lie("numeric", with_header("twelve"), HEADER),
        "header-empty": Lie("numeric", with_header(""), HEADER),
        "header-plus-sign": Lie("numeric", with_header(f"+{head_length}"), HEADER),
        "header-inner-space": Lie("numeric", with_header(f"{head_length} 0"), HEADER),
        "header-float": Lie("numeric", with_header(f"{head_length}.0"), HEADER),
        "header-hex": Lie("numeric", with_header(hex(head_length)), HEADER),
        "header-underscore": Lie("numeric", with_header("1_0"), HEADER),
        "header-superscript-digit": Lie("numeric", with_header(b"\xb2"), HEADER),
        "header-shorter-than-json": Lie("numeric", with_header(str(head_length - 1)), "JSON"),
        "header-into-the-binary": Lie("numeric", with_header(str(head_length + 8)), "JSON"),
        "header-absent-with-binary": Lie("numeric", (good, {}), "JSON"),
        "header-twice": Lie(
            "numeric",
            with_header(str(2**62)),
            HEADER,
            extra_headers=[(HEADER, str(head_length))],
        ),
    }


def _size_lies() -> dict[str, Lie]:
    return {
        "size-too-small": Lie("numeric", numeric_body(binary_data_size=24), "add up"),
        "size-too-large": Lie("numeric", numeric_body(binary_data_size=40), "add up"),
        "size-2**62": Lie("numeric", numeric_body(binary_data_size=2**62), "add up"),
        "size-2**64": Lie("numeric", numeric_body(binary_data_size=2**64 - 1), "add up"),
        "size-10**30": Lie("numeric", numeric_body(binary_data_size=10**30), "binary_data_size"),
        "size-negative": Lie("numeric", numeric_body(binary_data_size=-32), "binary_data_size"),
        "size-float": Lie("numeric", numeric_body(binary_data_size=32.0), "binary_data_size"),
        "size-string": Lie("numeric", numeric_body(binary_data_size="32"), "binary_data_size"),
        "size-bool": Lie("numeric", numeric_body(binary_data_size=True), "binary_data_size"),
        "size-null-no-data": Lie("numeric", numeric_body(binary_data_size=None), "add up"),
        "size-missing-on-one-of-two": Lie(
            "table", table_body(colour={"binary_data_size": ...}), "add up"
        ),
        "size-swapped-between-two": Lie(
            "table",
            table_body(size={"binary_data_size": len(COLOURS)}, colour={"binary_data_size": 8}),
            "'size'",
        ),
        "size-not-a-multiple-of-4": Lie(
            "table",
            table_body(size={"binary_data_size": 7}, colour={"binary_data_size": len(COLOURS) + 1}),
            "multiple of 4",
        ),
    }


def _shape_lies() -> dict[str, Lie]:
    tensor = {"name": "input", "datatype": "FP64"}
    return {
        "json-product-larger": Lie(
            "numeric", json_body({**tensor, "shape": [3, 2], "data": [1, 2, 3, 4]}), "shape"
        ),
        "json-product-smaller": Lie(
            "numeric", json_body({**tensor, "shape": [1, 2], "data": [1, 2, 3, 4]}), "shape"
        ),
        "json-ragged-nesting": Lie(
            "numeric", json_body({**tensor, "shape": [2, 2], "data": [[1, 2], [3]]}), "shape"
        ),
        "json-deeper-than-shape": Lie(
            "numeric", json_body({**tensor, "shape": [2, 2], "data": [[1, [2]], [3, 4]]}), "deeper"
        ),
        "binary-product-larger": Lie(
            "numeric",
            _framed({"inputs": [_tensor("input", "FP64", [3, 2], binary_data_size=32)]}, FLOATS),
            "shape",
        ),
        "binary-product-smaller": Lie(
            "numeric",
            _framed({"inputs": [_tensor("input", "FP64", [1, 2], binary_data_size=32)]}, FLOATS),
            "shape",
        ),
        "shape-negative": Lie(
            "numeric",
            _framed({"inputs": [_tensor("input", "FP64", [-2, 2], binary_data_size=32)]}, FLOATS),
            "negative",
        ),
        "shape-two-negatives": Lie(
            "numeric",
            _framed({"inputs": [_tensor("input", "FP64", [-2, -2], binary_data_size=32)]}, FLOATS),
            "negative",
        ),
        "shape-2**40-by-2**40": Lie(
            "numeric",
            _framed(
                {"inputs": [_tensor("input", "FP64", [2**40, 2**40], binary_data_size=32)]}, FLOATS
            ),
            "too large",
        ),
        "shape-zero-by-2**62": Lie(
            "numeric", json_body({**tensor, "shape": [0, 2**62], "data": []}), "too large"
        ),
        "shape-10**30": Lie(
            "numeric", json_body({**tensor, "shape": [10**30, 2], "data": [1, 2]}), "shape"
        ),
        "shape-nine-dims": Lie(
            "numeric", json_body({**tensor, "shape": [1] * 9, "data": [1]}), "shape"
        ),
        "shape-not-a-list": Lie(
            "numeric", json_body({**tensor, "shape": "2,2", "data": [1, 2, 3, 4]}), "shape"
        ),
        "shape-zero-rows": Lie(
            "numeric", json_body({**tensor, "shape": [0, 2], "data": []}), "N >= 1"
        ),
        "shape-wrong-width": Lie(
            "numeric", json_body({**tensor, "shape": [2, 1], "data": [1, 2]}), "shape"
        ),
    }


def _bytes_lies() -> dict[str, Lie]:
    return {
        "bytes-length-past-the-end": Lie(
            "table", table_body(data=_strings(b"red") + struct.pack("<I", 100) + b"ab"), "truncated"
        ),
        "bytes-length-2**32-1": Lie(
            "table", table_body(data=_strings(b"red") + struct.pack("<I", 2**32 - 1)), "truncated"
        ),
        "bytes-prefix-cut-short": Lie(
            "table",
            table_body(data=_strings(b"red") + b"\x01\x00\x00\x00"[:3] + b"\x00" * 1),
            "BYTES",
        ),
        "bytes-too-few-for-the-prefixes": Lie("table", table_body(data=b"\x00\x00\x00"), "BYTES"),
        "bytes-trailing-bytes": Lie(
            "table", table_body(data=COLOURS + b"\x00\x00"), "after the shape's"
        ),
        "bytes-not-utf8": Lie("table", table_body(data=_strings(b"red", b"\xff\xfe")), "UTF-8"),
    }


def _datatype_lies() -> dict[str, Lie]:
    def numeric(datatype: Any, data: list[Any]) -> tuple[bytes, dict[str, str]]:
        return json_body({"name": "input", "datatype": datatype, "shape": [1, 2], "data": data})

    return {
        "datatype-bytes-to-a-numeric-model": Lie("numeric", numeric("BYTES", ["a", "b"]), "input"),
        "datatype-fp16": Lie("numeric", numeric("FP16", [1, 2]), "FP16"),
        "datatype-bool": Lie("numeric", numeric("BOOL", [True, False]), "BOOL"),
        "datatype-uint8": Lie("numeric", numeric("UINT8", [1, 2]), "UINT8"),
        "datatype-lower-case": Lie("numeric", numeric("fp64", [1, 2]), "fp64"),
        "datatype-null": Lie("numeric", numeric(None, [1, 2]), "datatype"),
        "datatype-int64-given-floats": Lie("numeric", numeric("INT64", [1.5, 2]), "INT64"),
        "datatype-int32-out-of-range": Lie("numeric", numeric("INT32", [2**40, 1]), "INT32"),
        "datatype-fp32-out-of-range": Lie("numeric", numeric("FP32", [1e39, 1]), "FP32"),
        "datatype-numeric-for-a-categorical-column": Lie(
            "table",
            _framed(
                {
                    "inputs": [
                        _tensor("size", "FP32", [2, 1], binary_data_size=8),
                        {"name": "colour", "datatype": "FP64", "shape": [2], "data": [1, 2]},
                    ]
                },
                SIZES,
            ),
            "BYTES",
        ),
        "datatype-bytes-for-a-numeric-column": Lie(
            "table",
            _framed(
                {
                    "inputs": [
                        {"name": "size", "datatype": "BYTES", "shape": [2], "data": ["1", "2"]},
                        _tensor("colour", "BYTES", [2], binary_data_size=len(COLOURS)),
                    ]
                },
                COLOURS,
            ),
            "numeric column",
        ),
    }


def _value_lies() -> dict[str, Lie]:
    infinite = np.array([[np.inf, 1.0], [0.0, 0.0]], dtype="<f8").tobytes()
    table_doc = {
        "inputs": [
            _tensor("size", "FP32", [2, 1], binary_data_size=8),
            _tensor("colour", "BYTES", [2], binary_data_size=len(COLOURS)),
        ]
    }
    return {
        "value-binary-infinity": Lie(
            "numeric",
            _framed({"inputs": [_tensor("input", "FP64", [2, 2], binary_data_size=32)]}, infinite),
            "infinity",
        ),
        "value-binary-infinity-in-a-column": Lie(
            "table",
            _framed(table_doc, np.array([np.inf, 1.0], dtype="<f4").tobytes(), COLOURS),
            "'size'",
        ),
        "value-json-nested-5000-deep": Lie(
            "numeric", (b'{"inputs":' + b"[" * 5000 + b"]" * 5000 + b"}", {}), "JSON"
        ),
    }


def _output_lies() -> dict[str, Lie]:
    return {
        "output-unknown-name-binary": Lie(
            "numeric",
            rows(outputs=[{"name": "logits", "parameters": {"binary_data": True}}]),
            "logits",
        ),
        "output-probabilities-of-a-regressor": Lie(
            "regressor",
            rows(outputs=[{"name": "probabilities", "parameters": {"binary_data": True}}]),
            "probabilities",
        ),
        "output-binary-data-not-a-bool": Lie(
            "numeric",
            rows(outputs=[{"name": "predictions", "parameters": {"binary_data": "yes"}}]),
            "binary_data",
        ),
        "output-binary-data-output-a-string": Lie(
            "numeric", rows(parameters={"binary_data_output": "true"}), "binary_data_output"
        ),
        "output-binary-data-output-one": Lie(
            "numeric", rows(parameters={"binary_data_output": 1}), "binary_data_output"
        ),
        "output-named-twice": Lie(
            "numeric",
            rows(outputs=[{"name": "predictions"}, {"name": "predictions"}]),
            "more than once",
        ),
        "output-not-a-list": Lie("numeric", rows(outputs={"name": "predictions"}), "outputs"),
        "output-without-a-name": Lie(
            "numeric", rows(outputs=[{"parameters": {"binary_data": True}}]), "name"
        ),
        "output-shared-memory": Lie(
            "numeric",
            rows(outputs=[{"name": "predictions", "parameters": {"shared_memory_region": "r"}}]),
            "shared memory",
        ),
    }


LIES: dict[str, Lie] = {
    **_header_lies(),
    **_size_lies(),
    **_shape_lies(),
    **_bytes_lies(),
    **_datatype_lies(),
    **_value_lies(),
    **_output_lies(),
}


def _headers(lie: Lie) -> list[tuple[str, Any]]:
    body_headers = list(lie.request[1].items())
    return body_headers + lie.extra_headers


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(LIES))
async def test_a_lie_is_a_400_on_both_paths(
    tmp_path: Path, models: dict[str, Any], case: str
) -> None:
    lie = LIES[case]
    url = f"/v2/models/mdl_{lie.model}/infer"
    async with fast_and_route_clients(
        tmp_path, models[lie.model], f"mdl_{lie.model}", MAX_ROWS
    ) as (
        fast,
        route,
    ):
        answers = [
            await client.post(url, content=lie.request[0], headers=_headers(lie))
            for client in (fast, route)
        ]
    for response in answers:
        assert response.status_code == 400, (case, response.status_code, response.text)
        assert response.headers["content-type"] == "application/json"
        error = response.json()
        assert set(error) == {"error"} and isinstance(error["error"], str), response.text
        assert lie.names in error["error"], (case, error["error"])
        assert len(response.content) < 2000  # the message quotes at most a short excerpt
    assert answers[0].content == answers[1].content


# ---------------------------------------------------------------- odd but valid output requests


def _parse_framed(content: bytes, header: str | None) -> tuple[dict[str, Any], bytes]:
    """A response's JSON object and the binary bytes after it."""
    if header is None:
        return orjson.loads(content), b""
    length = int(header)
    assert 0 < length <= len(content)
    return orjson.loads(content[:length]), content[length:]


ODD_BUT_VALID: dict[str, tuple[str, tuple[bytes, dict[str, str]], dict[str, bool]]] = {
    "all-binary-regressor": ("regressor", rows(parameters={"binary_data_output": True}), {}),
    "empty-outputs-list-binary": (
        "numeric",
        rows(outputs=[], parameters={"binary_data_output": True}),
        {"predictions": True, "probabilities": True},
    ),
    "only-probabilities-binary": (
        "numeric",
        rows(outputs=[{"name": "probabilities", "parameters": {"binary_data": True}}]),
        {"probabilities": True},
    ),
    "binary-default-overridden-per-output": (
        "numeric",
        rows(
            outputs=[
                {"name": "probabilities", "parameters": {"binary_data": False}},
                {"name": "predictions"},
            ],
            parameters={"binary_data_output": True},
        ),
        {"probabilities": False, "predictions": True},
    ),
    "binary-in-binary-out-table": (
        "table",
        table_body(parameters={"binary_data_output": True}),
        {"predictions": True, "probabilities": True},
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(ODD_BUT_VALID))
async def test_odd_output_requests_frame_correctly(
    tmp_path: Path, models: dict[str, Any], case: str
) -> None:
    model, (body, headers), expected = ODD_BUT_VALID[case]
    url = f"/v2/models/mdl_{model}/infer"
    async with fast_and_route_clients(tmp_path, models[model], f"mdl_{model}", MAX_ROWS) as pair:
        answers = [await client.post(url, content=body, headers=headers) for client in pair]
    assert answers[0].content == answers[1].content
    response = answers[0]
    assert response.status_code == 200, response.text
    doc, binary = _parse_framed(response.content, response.headers.get(HEADER))
    sizes = [o.get("parameters", {}).get("binary_data_size") for o in doc["outputs"]]
    assert sum(s for s in sizes if s is not None) == len(binary)
    for output in doc["outputs"]:
        is_binary = "binary_data_size" in output.get("parameters", {})
        assert is_binary == expected.get(output["name"], True), (output["name"], doc)
        assert is_binary != ("data" in output)


# ------------------------------------------------------------------------------ a real server


def _import(server: Server, model: Any) -> str:
    buf = io.BytesIO()
    model.save(buf)
    with server.client() as client:
        response = client.post(
            "/v1/models/import", content=buf.getvalue(), headers={"Content-Type": OCTETS}
        )
    assert response.status_code == 201, response.text
    model_id: str = response.json()["id"]
    return model_id


def raw_post(
    server: Server, path: str, headers: list[tuple[str, Any]], body: bytes
) -> tuple[int, bytes]:
    """POST on a fresh connection with an exact ``Content-Length``; status and body. A server
    that waited for more bytes than were declared would hit the socket's 60 s timeout."""
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    head = "\r\n".join(lines).encode() + b"\r\n"
    for name, value in headers:
        raw = value if isinstance(value, bytes) else str(value).encode("latin-1")
        head += name.encode() + b": " + raw + b"\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as conn:
        conn.sendall(head + b"\r\n" + body)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    _, _, content = rest.partition(b"\r\n\r\n")
    return int(status_line.split(b" ")[1]), content


LIVE_LIES = [name for name in LIES if name.startswith(("header-", "size-2**", "shape-2**"))]
BIG_SIZE = 2**30  # a binary_data_size (and header length) of 1 GiB on a 200-byte body


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    root = tmp_path_factory.mktemp("v2-lies")
    (root / "logs").mkdir()
    server = Server(root / "data", root / "logs", {})
    server.start()
    try:
        yield server, {name: _import(server, model) for name, model in _models().items()}
    finally:
        server.stop()


@pytest.mark.integration
def test_header_lies_against_a_real_server_allocate_nothing(
    live: tuple[Server, dict[str, str]],
) -> None:
    server, ids = live
    path = f"/v2/models/{ids['numeric']}/infer"
    good, good_headers = numeric_body()
    assert raw_post(server, path, list(good_headers.items()), good)[0] == 200  # warm
    lies = {name: LIES[name] for name in LIVE_LIES}
    huge, huge_headers = numeric_body(binary_data_size=BIG_SIZE)
    lies["size-1GiB-and-header-1GiB"] = Lie(
        "numeric", (huge, {**huge_headers, HEADER: str(BIG_SIZE)}), HEADER
    )
    assert raw_post(server, path, _headers(LIES["header-2**62"]), good)[0] == 400  # warm
    peak_before = server.peak_rss_bytes()
    for name, lie in lies.items():
        model_path = f"/v2/models/{ids[lie.model]}/infer"
        status, content = raw_post(server, model_path, _headers(lie), lie.request[0])
        assert status == 400, (name, status, content[:300])
        error = orjson.loads(content)
        assert set(error) == {"error"} and lie.names in error["error"], (name, error)
    peak_after = server.peak_rss_bytes()
    logger.info("VmHWM before %d KiB, after %d KiB", peak_before // 1024, peak_after // 1024)
    assert peak_after - peak_before < MEMORY_BOUND, (peak_before, peak_after)
    assert raw_post(server, path, list(good_headers.items()), good)[0] == 200  # still serving
