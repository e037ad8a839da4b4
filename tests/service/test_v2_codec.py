"""The Open Inference Protocol codec against tritonclient's own request and response handling.

Request bodies are built by ``tritonclient.http`` exactly as it sends them (binary data by
default, JSON on request); responses are parsed back with ``InferResult.from_response_body``.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from hypothesis import given, settings
from hypothesis import strategies as st

from app.api.v2.codec import (
    HEADER_LENGTH,
    MAX_DIMS,
    InferRequest,
    V2Error,
    decode_request,
    encode_response,
    parse_header_length,
)

# -------------------------------------------------------------------- helpers


def _input(name: str, array: np.ndarray, datatype: str, binary: bool) -> triton.InferInput:
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def _body(
    inputs: list[triton.InferInput],
    outputs: list[triton.InferRequestedOutput] | None = None,
    request_id: str = "",
) -> tuple[bytes, int | None]:
    body, header_length = triton.InferenceServerClient.generate_request_body(
        inputs, outputs=outputs, request_id=request_id
    )
    return bytes(body), header_length


def _decode(inputs: list[triton.InferInput], **kwargs: Any) -> InferRequest:
    return decode_request(*_body(inputs, **kwargs))


def _raw(doc: dict[str, Any], binary: bytes = b"") -> tuple[bytes, int | None]:
    header = json.dumps(doc).encode()
    return header + binary, len(header) if binary else None


def _tensor(name: str, datatype: str, shape: list[int], **fields: Any) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, **fields}


def _bytes_tensor(elements: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(e)) + e for e in elements)


def _result(body: bytes, headers: dict[str, str]) -> triton.InferResult:
    length = headers.get(HEADER_LENGTH)
    return triton.InferResult.from_response_body(
        body, header_length=None if length is None else int(length)
    )


RNG = np.random.default_rng(0)
NUMERIC = [
    ("FP32", RNG.normal(size=(5, 3)).astype(np.float32)),
    ("FP64", RNG.normal(size=(4, 2))),
    ("INT32", RNG.integers(-(2**31), 2**31 - 1, size=(3, 4), dtype=np.int32)),
    ("INT64", RNG.integers(-(2**62), 2**62, size=(6,), dtype=np.int64)),
]

# -------------------------------------------------------------------- requests from tritonclient


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize(("datatype", "array"), NUMERIC, ids=[d for d, _ in NUMERIC])
def test_numeric_inputs_round_trip(datatype: str, array: np.ndarray, binary: bool) -> None:
    request = _decode([_input("input", array, datatype, binary)])
    (tensor,) = request.inputs
    assert (tensor.name, tensor.datatype, tensor.shape) == ("input", datatype, array.shape)
    assert tensor.data.dtype == array.dtype
    np.testing.assert_array_equal(tensor.data, array)
    assert tensor.data.flags.writeable and tensor.data.flags.aligned


@pytest.mark.parametrize("binary", [True, False])
def test_bytes_inputs_round_trip(binary: bool) -> None:
    words = np.array([[b"red"], [b""], ["gr\u00fcn".encode()], [b"a b,c"]], dtype=object)
    request = _decode([_input("colour", words, "BYTES", binary)])
    (tensor,) = request.inputs
    assert tensor.shape == (4, 1) and tensor.datatype == "BYTES"
    assert tensor.data.dtype == object
    assert tensor.data.tolist() == words.tolist()


def test_binary_bytes_keep_arbitrary_bytes() -> None:
    raw = np.array([b"\x00\xff\x00", b"\x00", b"\xc3"], dtype=object)
    (tensor,) = _decode([_input("blob", raw, "BYTES", True)]).inputs
    assert tensor.data.tolist() == raw.tolist()


def test_mixed_binary_and_json_inputs_keep_their_order() -> None:
    a = RNG.normal(size=(3, 2)).astype(np.float32)
    b = np.array([b"x", b"yy", b"zzz"], dtype=object)
    c = np.arange(3, dtype=np.int64)
    d = RNG.normal(size=(3,))
    body, header_length = _body(
        [
            _input("a", a, "FP32", True),
            _input("b", b, "BYTES", True),
            _input("c", c, "INT64", False),
            _input("d", d, "FP64", True),
        ]
    )
    assert header_length is not None
    request = decode_request(body, header_length)
    got = {t.name: t.data for t in request.inputs}
    assert [t.name for t in request.inputs] == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(got["a"], a)
    assert got["b"].tolist() == b.tolist()
    np.testing.assert_array_equal(got["c"], c)
    np.testing.assert_array_equal(got["d"], d)


def test_requested_outputs_and_their_binary_flag() -> None:
    outputs = [
        triton.InferRequestedOutput("probabilities", binary_data=False),
        triton.InferRequestedOutput("predictions", binary_data=True),
    ]
    x = np.zeros((1, 2), np.float32)
    request = _decode([_input("input", x, "FP32", True)], outputs=outputs, request_id="r-1")
    assert request.id == "r-1"
    assert [(o.name, o.binary_data) for o in request.outputs] == [
        ("probabilities", False),
        ("predictions", True),
    ]
    names, binary = request.select_outputs(["predictions", "probabilities"])
    assert names == ["probabilities", "predictions"] and binary == {"predictions"}


def test_no_requested_outputs_means_all_of_them_as_binary() -> None:
    """tritonclient asks for binary outputs with ``binary_data_output`` when it names none."""
    request = _decode([_input("input", np.zeros((1, 2), np.float32), "FP32", True)])
    assert request.outputs == [] and request.binary_data_output
    names, binary = request.select_outputs(["predictions", "probabilities"])
    assert names == ["predictions", "probabilities"]
    assert binary == {"predictions", "probabilities"}


def test_select_outputs_rejects_an_unknown_name() -> None:
    outputs = [triton.InferRequestedOutput("nope")]
    request = _decode(
        [_input("input", np.zeros((1, 1), np.float32), "FP32", True)], outputs=outputs
    )
    with pytest.raises(V2Error, match="unknown output 'nope'"):
        request.select_outputs(["predictions"])


# -------------------------------------------------------------------- hand-written JSON


def test_nested_and_flat_json_data_are_row_major() -> None:
    flat = _tensor("input", "FP64", [2, 3], data=[1, 2, 3, 4, 5, 6])
    nested = _tensor("input", "FP64", [2, 3], data=[[1, 2, 3], [4, 5, 6]])
    for tensor in (flat, nested):
        (got,) = decode_request(*_raw({"inputs": [tensor]})).inputs
        np.testing.assert_array_equal(got.data, [[1, 2, 3], [4, 5, 6]])


def test_null_is_missing() -> None:
    doc = {
        "model_name": "ignored",
        "inputs": [
            _tensor("x", "FP32", [2, 2], data=[[1.5, None], [None, 4]]),
            _tensor("n", "INT64", [3], data=[1, None, 3]),
            _tensor("c", "BYTES", [3, 1], data=[["a"], [None], [""]]),
        ],
    }
    x, n, c = decode_request(*_raw(doc)).inputs
    assert x.data.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(x.data), [[False, True], [True, False]])
    assert n.data.dtype == np.float64 and np.isnan(n.data[1]) and n.data[2] == 3
    assert c.data.tolist() == [[b"a"], [b""], [b""]]


def test_unknown_top_level_fields_are_ignored_and_parameters_kept() -> None:
    doc = {
        "model_name": "m",
        "id": "42",
        "parameters": {"custom": 1},
        "inputs": [_tensor("input", "INT32", [1], data=[7])],
    }
    request = decode_request(*_raw(doc))
    assert request.id == "42" and request.parameters == {"custom": 1}
    assert request.inputs[0].data.dtype == np.int32


def test_an_empty_tensor_is_fine() -> None:
    (tensor,) = decode_request(
        *_raw({"inputs": [_tensor("input", "FP32", [0, 3], data=[])]})
    ).inputs
    assert tensor.data.shape == (0, 3)


# -------------------------------------------------------------------- responses


@pytest.mark.parametrize("binary", [True, False])
def test_responses_parse_back_with_tritonclient(binary: bool) -> None:
    probabilities = RNG.random((4, 3))
    labels = np.array(["setosa", "versicolor", "\u00e9t\u00e9", "a"])
    ints = np.array([3, -1, 0, 2**40], dtype=np.int64)
    floats = RNG.normal(size=(4, 2)).astype(np.float32)
    outputs = [
        ("probabilities", probabilities),
        ("predictions", labels),
        ("ints", ints),
        ("floats", floats),
    ]
    body, headers = encode_response("m1", "1", "req-9", outputs, binary)
    assert (HEADER_LENGTH in headers) == binary
    result = _result(body, headers)
    response = result.get_response()
    assert response["model_name"] == "m1" and response["model_version"] == "1"
    assert response["id"] == "req-9"
    np.testing.assert_array_equal(result.as_numpy("probabilities"), probabilities)
    np.testing.assert_array_equal(result.as_numpy("ints"), ints)
    np.testing.assert_array_equal(result.as_numpy("floats"), floats)
    got = result.as_numpy("predictions")
    decoded = [v.decode() if isinstance(v, bytes) else v for v in got.tolist()]
    assert decoded == labels.tolist()
    datatypes = {o["name"]: o["datatype"] for o in response["outputs"]}
    assert datatypes == {
        "probabilities": "FP64",
        "predictions": "BYTES",
        "ints": "INT64",
        "floats": "FP32",
    }


def test_only_the_named_outputs_are_binary() -> None:
    outputs = [("predictions", np.array([1, 2], np.int64)), ("probabilities", np.eye(2))]
    body, headers = encode_response("m", None, None, outputs, {"probabilities"})
    result = _result(body, headers)
    response = result.get_response()
    assert "id" not in response and "model_version" not in response
    by_name = {o["name"]: o for o in response["outputs"]}
    assert by_name["predictions"]["data"] == [1, 2]
    assert by_name["probabilities"]["parameters"] == {"binary_data_size": 32}
    np.testing.assert_array_equal(result.as_numpy("probabilities"), np.eye(2))
    assert headers["Content-Type"] == "application/octet-stream"


def test_json_response_sends_nan_as_null() -> None:
    body, headers = encode_response("m", None, None, [("p", np.array([np.nan, 1.0]))], False)
    assert headers == {"Content-Type": "application/json"}
    assert json.loads(body)["outputs"][0]["data"] == [None, 1.0]


def test_a_decoded_request_encodes_back_as_the_same_tensors() -> None:
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    (tensor,) = _decode([_input("input", x, "FP32", True)]).inputs
    body, headers = encode_response("m", None, None, [("echo", tensor.data)], True)
    np.testing.assert_array_equal(_result(body, headers).as_numpy("echo"), x)


# -------------------------------------------------------------------- hostile requests


def _binary_fp32() -> tuple[bytes, int]:
    body, header_length = _body([_input("input", np.ones((2, 3), np.float32), "FP32", True)])
    assert header_length is not None
    return body, header_length


def _expect(match: str, body: bytes, header_length: int | None, **kwargs: Any) -> None:
    with pytest.raises(V2Error, match=match):
        decode_request(body, header_length, **kwargs)


def test_a_lying_header_length() -> None:
    body, n = _binary_fp32()
    _expect(HEADER_LENGTH, body, len(body) + 1)
    _expect(HEADER_LENGTH, body, 0)
    _expect(HEADER_LENGTH, body, -3)
    _expect("JSON object", body, n - 1)  # cuts the JSON short
    _expect("JSON object", body, n + 1)  # the JSON and a byte of the binary data
    _expect("JSON object", body, None)  # binary bytes after the JSON


@pytest.mark.parametrize("value", ["-5", "abc", "1e3", "", "\u0663", "9" * 5000, "0" * 4990 + "1"])
def test_header_length_must_be_a_plain_integer(value: str) -> None:
    with pytest.raises(V2Error, match=HEADER_LENGTH):
        parse_header_length(value)


def test_header_length_parses() -> None:
    assert parse_header_length(" 120 ") == 120 and parse_header_length(None) is None


def test_binary_sizes_must_add_up_to_the_body() -> None:
    body, n = _binary_fp32()
    _expect("add up to 24 bytes, but 20", body[:-4], n)
    _expect("add up to 24 bytes, but 28", body + b"\0" * 4, n)


def test_binary_data_needs_the_header() -> None:
    doc = {"inputs": [_tensor("x", "FP32", [1], parameters={"binary_data_size": 4})]}
    header = json.dumps(doc).encode()
    _expect("need the", header, None)


def _with_binary(tensor: dict[str, Any], data: bytes) -> tuple[bytes, int]:
    tensor = {**tensor, "parameters": {"binary_data_size": len(data)}}
    header = json.dumps({"inputs": [tensor]}).encode()
    return header + data, len(header)


def test_shape_must_match_the_element_count() -> None:
    _expect(
        "6 elements, but binary_data_size 16 holds 4",
        *_with_binary(_tensor("x", "FP32", [2, 3]), b"\0" * 16),
    )
    _expect(
        "has 6 elements, but 'data' has 5",
        *_raw({"inputs": [_tensor("x", "FP32", [2, 3], data=[1, 2, 3, 4, 5])]}),
    )
    _expect(
        "does not match shape",
        *_raw({"inputs": [_tensor("x", "FP32", [2, 3], data=[[1, 2, 3], [4, 5]])]}),
    )
    _expect(
        "does not match shape",
        *_raw({"inputs": [_tensor("x", "FP32", [2, 3], data=[[1, 2, 3, 4, 5, 6]])]}),
    )
    _expect(
        "deeper than its shape", *_raw({"inputs": [_tensor("x", "FP32", [2], data=[[1], [2]])]})
    )


def test_fp32_binary_size_must_be_a_multiple_of_four() -> None:
    _expect("not a multiple of 4", *_with_binary(_tensor("x", "FP32", [2]), b"\0" * 7))
    _expect("not a multiple of 8", *_with_binary(_tensor("x", "INT64", [1]), b"\0" * 12))


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ([2, -1], "negative"),
        ([10**12, 10**12], "too large"),
        ([0, 2**40], "too large"),
        ([0, 10**30], "integers"),
        ([1] * (MAX_DIMS + 1), "at most"),
        ([2.0, 3], "integers"),
        ([True], "integers"),
        ("2,3", "integers"),
    ],
)
def test_bad_shapes(shape: Any, match: str) -> None:
    _expect(match, *_raw({"inputs": [_tensor("x", "FP32", shape, data=[])]}))


def test_element_cap_is_checked_before_reading() -> None:
    data = b"\0" * 4 * 100
    _expect("too large", *_with_binary(_tensor("x", "FP32", [100]), data), max_elements=99)


def test_truncated_bytes_elements() -> None:
    full = _bytes_tensor([b"abc", b"defg"])
    tensor = _tensor("c", "BYTES", [2])
    _expect("says 4 bytes, but only 3 remain", *_with_binary(tensor, full[:-1]))
    _expect("cannot hold", *_with_binary(tensor, full[:6]))
    _expect("length runs past", *_with_binary(tensor, full[:9]))
    _expect("bytes after the shape", *_with_binary(tensor, full + b"\0"))
    huge = struct.pack("<I", 2**32 - 1) + b"ab" + _bytes_tensor([b""])
    _expect("truncated", *_with_binary(tensor, huge))


@pytest.mark.parametrize("datatype", ["FP16", "UINT8", "BOOL", "fp32", 3, None])
def test_unknown_datatypes(datatype: Any) -> None:
    _expect("not supported", *_raw({"inputs": [_tensor("x", datatype, [1], data=[1])]}))


def test_duplicate_names() -> None:
    x = _tensor("x", "FP32", [1], data=[1])
    _expect("more than once", *_raw({"inputs": [x, x]}))
    outputs = [{"name": "p"}, {"name": "p"}]
    _expect("more than once", *_raw({"inputs": [x], "outputs": outputs}))


@pytest.mark.parametrize(
    ("tensor", "match"),
    [
        (_tensor("x", "FP32", [2], data=[1, "2"]), "numbers or null"),
        (_tensor("x", "FP32", [2], data=[1, True]), "numbers or null"),
        (_tensor("x", "FP32", [1], data=[1e300]), "FP32 range"),
        (_tensor("x", "INT64", [2], data=[1, 2.5]), "integers or null"),
        (_tensor("x", "INT32", [1], data=[2**31]), "INT32 range"),
        (_tensor("x", "INT64", [1], data=[2**63]), "INT64 range"),
        (_tensor("x", "BYTES", [1], data=[1]), "strings or null"),
        (_tensor("x", "FP32", [1], data=1), "must be a list"),
        (_tensor("x", "FP32", [1]), "exactly one of"),
        (_tensor("", "FP32", [1], data=[1]), "name"),
        (_tensor("x", "FP32", [1], data=[1], parameters=[]), "parameters"),
        (
            _tensor("x", "FP32", [1], parameters={"shared_memory_region": "r"}),
            "shared memory",
        ),
    ],
)
def test_bad_input_tensors(tensor: dict[str, Any], match: str) -> None:
    _expect(match, *_raw({"inputs": [tensor]}))


def test_data_and_binary_together_are_refused() -> None:
    tensor = _tensor("x", "FP32", [1], data=[1.0])
    _expect("exactly one of", *_with_binary(tensor, b"\0" * 4))


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ([], "JSON object"),
        ({"inputs": []}, "non-empty"),
        ({"inputs": [1]}, "object"),
        ({"id": 5, "inputs": []}, "'id'"),
        ({"parameters": 1, "inputs": []}, "parameters"),
        ({"parameters": {"binary_data_output": "yes"}, "inputs": []}, "binary_data_output"),
        ({"inputs": [_tensor("x", "FP32", [1], data=[1])], "outputs": {}}, "'outputs'"),
        (
            {
                "inputs": [_tensor("x", "FP32", [1], data=[1])],
                "outputs": [{"name": "p", "parameters": {"binary_data": 1}}],
            },
            "binary_data must be",
        ),
    ],
)
def test_bad_request_documents(doc: Any, match: str) -> None:
    _expect(match, *_raw(doc))


def test_not_json_at_all() -> None:
    _expect("JSON object", b"\xff\xfe{", None)
    _expect("JSON object", b'{"inputs": [NaN]}', None)


def test_every_truncation_of_a_binary_body_is_refused() -> None:
    body, n = _body(
        [
            _input("a", np.ones((2, 2), np.float32), "FP32", True),
            _input("b", np.array([b"xy", b""], dtype=object), "BYTES", True),
        ]
    )
    assert n is not None
    for cut in range(len(body)):
        with pytest.raises(V2Error):
            decode_request(body[:cut], n)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), value=st.integers(0, 255), delta=st.integers(-40, 40))
def test_corrupted_bodies_fail_only_with_v2_error(position: int, value: int, delta: int) -> None:
    body, n = _body(
        [
            _input("a", np.ones((2, 2), np.float32), "FP32", True),
            _input("b", np.array([b"xy", b"z"], dtype=object), "BYTES", True),
        ]
    )
    assert n is not None
    corrupted = bytearray(body)
    corrupted[position % len(body)] = value
    try:
        request = decode_request(bytes(corrupted), n + delta)
    except V2Error:
        return
    for tensor in request.inputs:  # whatever got through is self-consistent
        assert tensor.data.shape == tensor.shape
