"""Open Inference Protocol REST bodies: the JSON form and the binary tensor data extension.

Pure functions of bytes and arrays (no web framework types), so the byte layout is tested on its
own. A request body is a JSON object, optionally followed by raw tensor data; the
``Inference-Header-Content-Length`` header then gives the JSON object's length in bytes, and each
input carried as binary data says its size in ``parameters.binary_data_size``. The binary parts
follow the JSON in the order of those inputs, back to back, and must fill the body exactly.

Binary layout: little-endian, row-major, no padding; FP32/FP64/INT32/INT64 in their native size;
a BYTES element is a 4-byte little-endian unsigned length followed by that many bytes. JSON
``data`` is flat or nested to match the shape, row-major; ``null`` is a missing value (NaN for
numbers, an empty element for BYTES). Responses carry an output as binary data when asked
(``binary_data`` on a requested output, else the request's ``binary_data_output``).

Every problem with a request raises ``V2Error`` with a message for the client (a 400).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

__all__ = [
    "BYTES",
    "DATATYPES",
    "HEADER_LENGTH",
    "MAX_DIMS",
    "MAX_ELEMENTS",
    "InferInput",
    "InferRequest",
    "RequestedOutput",
    "V2Error",
    "decode_request",
    "encode_response",
    "parse_header_length",
]

HEADER_LENGTH = "Inference-Header-Content-Length"
"""The HTTP header giving the JSON part's length when binary tensor data follows it."""

DATATYPES: dict[str, np.dtype[Any]] = {
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
}
"""Numeric tensor datatypes and their binary layout; ``BYTES`` is the one other datatype."""
BYTES = "BYTES"
"""The datatype of text / raw-bytes tensors (length-prefixed elements in binary form)."""
_KNOWN = (*DATATYPES, BYTES)

MAX_ELEMENTS = 1 << 24
"""Default cap on one tensor's element count (and on any one dimension), checked before use."""
MAX_DIMS = 8
"""Most dimensions a tensor may have."""

_LENGTH = struct.Struct("<I")
_MAX_LENGTH_DIGITS = 19
"""Most digits a header length may have (10**19 bytes is past any body; leading zeros count)."""
_NONE = type(None)
# The Python types JSON data may hold, per datatype family.
_TEXT_KINDS = frozenset({str, _NONE})
_FLOAT_KINDS = frozenset({int, float, _NONE})
_INT_KINDS = frozenset({int, _NONE})


class V2Error(ValueError):
    """A request the protocol adapter cannot accept; ``message`` is for the client (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class InferInput:
    """One decoded input tensor.

    ``data`` has ``shape``: float32 / float64 / int32 / int64 for FP32 / FP64 / INT32 / INT64
    (float64 with NaN for an INT tensor whose JSON data holds ``null``), and for BYTES an object
    array of ``bytes`` (``b""`` for a missing element).
    """

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: npt.NDArray[Any]
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestedOutput:
    """An output the client asked for; ``binary_data`` None means "as the request's default"."""

    name: str
    binary_data: bool | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InferRequest:
    """A decoded inference request (``outputs`` empty: the client wants every output)."""

    id: str | None
    parameters: dict[str, Any]
    inputs: list[InferInput]
    outputs: list[RequestedOutput]

    @property
    def binary_data_output(self) -> bool:
        """Whether outputs go out as binary data unless a requested output says otherwise."""
        return self.parameters.get("binary_data_output") is True

    def select_outputs(self, available: Sequence[str]) -> tuple[list[str], set[str]]:
        """The outputs to send, in order, and which of them as binary data.

        Raises ``V2Error`` if the request names an output not in ``available``.
        """
        default = self.binary_data_output
        if not self.outputs:
            return list(available), set(available) if default else set()
        for out in self.outputs:
            if out.name not in available:
                raise V2Error(f"unknown output {out.name!r}; this model has {list(available)}")
        binary = {
            out.name
            for out in self.outputs
            if (default if out.binary_data is None else out.binary_data)
        }
        return [out.name for out in self.outputs], binary


# -------------------------------------------------------------------- decoding


def parse_header_length(value: str | None) -> int | None:
    """The ``Inference-Header-Content-Length`` header's value as an int (None if absent)."""
    if value is None:
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        raise V2Error(f"{HEADER_LENGTH} must be a non-negative integer, got {value[:40]!r}")
    if len(text) > _MAX_LENGTH_DIGITS:
        # Larger than any body; and int() refuses over 4300 digits with a ValueError (a 500).
        raise V2Error(f"{HEADER_LENGTH} has {len(text):,} digits: it is larger than any body")
    return int(text)


def decode_request(
    body: bytes, header_length: int | None, *, max_elements: int = MAX_ELEMENTS
) -> InferRequest:
    """Decode a request body; ``header_length`` is the ``Inference-Header-Content-Length``.

    Without ``header_length`` the whole body is the JSON object and no input may be binary.
    Raises ``V2Error`` naming the first problem found.
    """
    header, binary = _split_body(body, header_length)
    try:
        doc = orjson.loads(header)
    except orjson.JSONDecodeError as exc:
        where = "the body" if header_length is None else f"the first {header_length} bytes"
        raise V2Error(f"{where} must be a JSON object: {exc}") from None
    if not isinstance(doc, dict):
        raise V2Error("the request must be a JSON object")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise V2Error("'id' must be a string")
    parameters = _parameters(doc, "the request")
    if not isinstance(parameters.get("binary_data_output", False), bool):
        raise V2Error("parameter 'binary_data_output' must be true or false")
    inputs = _decode_inputs(doc.get("inputs"), binary, header_length is not None, max_elements)
    return InferRequest(request_id, parameters, inputs, _decode_outputs(doc.get("outputs")))


def _split_body(body: bytes, header_length: int | None) -> tuple[bytes, memoryview]:
    """The JSON part and the binary part that follows it."""
    view = memoryview(body)
    if header_length is None:
        return body, view[len(body) :]
    if not 0 < header_length <= len(body):
        raise V2Error(
            f"{HEADER_LENGTH} is {header_length}, but the body has {len(body)} bytes; "
            "it must give the length of the JSON object at the start of the body"
        )
    return body[:header_length], view[header_length:]


def _parameters(doc: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """``doc["parameters"]`` as a dict (empty if absent)."""
    parameters = doc.get("parameters", {})
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise V2Error(f"'parameters' of {owner} must be an object")
    return parameters


def _decode_inputs(
    items: Any, binary: memoryview, has_header: bool, max_elements: int
) -> list[InferInput]:
    """Every input, each binary one reading its share of ``binary`` in order."""
    if not isinstance(items, list) or not items:
        raise V2Error("'inputs' must be a non-empty list of tensors")
    if not all(isinstance(item, dict) for item in items):
        raise V2Error("every item of 'inputs' must be an object")
    sizes = [_binary_size(item, i) for i, item in enumerate(items)]
    total = sum(size for size in sizes if size is not None)
    if total and not has_header:
        raise V2Error(f"inputs with binary_data_size need the {HEADER_LENGTH} header")
    if total != len(binary):
        raise V2Error(
            f"the inputs' binary_data_size add up to {total} bytes, but {len(binary)} bytes "
            f"follow the JSON header"
        )
    inputs, offset, names = [], 0, set()
    for item, size in zip(items, sizes, strict=True):
        chunk = None
        if size is not None:
            chunk, offset = binary[offset : offset + size], offset + size
        tensor = _decode_input(item, chunk, max_elements)
        if tensor.name in names:
            raise V2Error(f"input {tensor.name!r} appears more than once")
        names.add(tensor.name)
        inputs.append(tensor)
    return inputs


def _binary_size(item: Mapping[str, Any], index: int) -> int | None:
    """The input's ``binary_data_size`` parameter, checked (None when it has none)."""
    parameters = _parameters(item, f"input {index}")
    if "shared_memory_region" in parameters:
        raise V2Error("the shared memory extension is not supported")
    size = parameters.get("binary_data_size")
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise V2Error(f"input {index}: binary_data_size must be a non-negative integer")
    return size


def _decode_input(
    item: Mapping[str, Any], chunk: memoryview | None, max_elements: int
) -> InferInput:
    """One input tensor from its JSON object and its binary data (if it has some)."""
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise V2Error("every input needs a non-empty string 'name'")
    datatype = item.get("datatype")
    if datatype not in _KNOWN:
        raise V2Error(
            f"input {name!r}: datatype {str(datatype)[:40]!r} is not supported; "
            f"use one of {', '.join(_KNOWN)}"
        )
    shape = _shape(item.get("shape"), name, max_elements)
    has_data = "data" in item
    if (chunk is None) == (not has_data):
        raise V2Error(f"input {name!r} needs exactly one of 'data' and binary_data_size")
    if chunk is not None:
        data = _from_binary(chunk, datatype, shape, name)
    else:
        data = _from_json(_flatten(item["data"], shape, name), datatype, name)
    return InferInput(name, datatype, shape, data.reshape(shape), _parameters(item, name))


def _shape(value: Any, name: str, max_elements: int) -> tuple[int, ...]:
    """A checked shape: at most ``MAX_DIMS`` non-negative ints, at most ``max_elements`` total."""
    if (
        not isinstance(value, list)
        or len(value) > MAX_DIMS
        or not all(isinstance(d, int) and not isinstance(d, bool) for d in value)
    ):
        raise V2Error(f"input {name!r}: 'shape' must be a list of at most {MAX_DIMS} integers")
    if not value:
        return ()
    if min(value) < 0:
        raise V2Error(f"input {name!r}: shape {value} has a negative dimension")
    if max(value) > max_elements or math.prod(value) > max_elements:
        raise V2Error(
            f"input {name!r}: shape {value[:MAX_DIMS]} is too large "
            f"(at most {max_elements} elements)"
        )
    return tuple(value)


def _from_binary(
    chunk: memoryview, datatype: str, shape: tuple[int, ...], name: str
) -> npt.NDArray[Any]:
    """Decode ``math.prod(shape)`` elements filling ``chunk`` exactly."""
    count = math.prod(shape)
    if datatype == BYTES:
        return _bytes_elements(chunk, count, name)
    dtype = DATATYPES[datatype]
    if len(chunk) % dtype.itemsize:
        raise V2Error(
            f"input {name!r}: {len(chunk)} bytes of {datatype} binary data is not a multiple "
            f"of {dtype.itemsize}"
        )
    if len(chunk) // dtype.itemsize != count:
        raise V2Error(
            f"input {name!r}: shape {list(shape)} has {count} elements, but binary_data_size "
            f"{len(chunk)} holds {len(chunk) // dtype.itemsize}"
        )
    # A native-order copy: the body's buffer is neither aligned nor ours to keep.
    return np.frombuffer(chunk, dtype=dtype).astype(dtype.newbyteorder("="))


def _bytes_elements(chunk: memoryview, count: int, name: str) -> npt.NDArray[Any]:
    """``count`` length-prefixed BYTES elements filling ``chunk`` exactly."""
    end = len(chunk)
    if count * _LENGTH.size > end:
        raise V2Error(
            f"input {name!r}: {end} bytes cannot hold {count} BYTES elements "
            f"(each needs a {_LENGTH.size}-byte length)"
        )
    elements: list[bytes] = []
    offset = 0
    for i in range(count):
        if offset + _LENGTH.size > end:
            raise V2Error(f"input {name!r}: BYTES element {i}'s length runs past its data")
        (length,) = _LENGTH.unpack_from(chunk, offset)
        offset += _LENGTH.size
        if length > end - offset:
            raise V2Error(
                f"input {name!r}: BYTES element {i} says {length} bytes, but only "
                f"{end - offset} remain (truncated data)"
            )
        elements.append(bytes(chunk[offset : offset + length]))
        offset += length
    if offset != end:
        raise V2Error(
            f"input {name!r}: binary_data_size has {end - offset} bytes after the shape's "
            f"{count} BYTES elements"
        )
    return _object_array(elements)


def _object_array(elements: list[bytes]) -> npt.NDArray[Any]:
    """A 1-D object array of ``elements`` (``np.array`` would make a fixed-width type)."""
    out = np.empty(len(elements), dtype=object)
    out[:] = elements
    return out


def _flatten(data: Any, shape: tuple[int, ...], name: str) -> list[Any]:
    """JSON ``data`` in row-major order: flat, or nested exactly as ``shape``."""
    count = math.prod(shape)
    if not isinstance(data, list):
        raise V2Error(f"input {name!r}: 'data' must be a list")
    if not any(isinstance(v, list) for v in data):
        if len(data) != count:
            raise V2Error(
                f"input {name!r}: shape {list(shape)} has {count} elements, "
                f"but 'data' has {len(data)}"
            )
        return data
    flat: list[Any] = []
    _collect(data, shape, flat, name)
    return flat


def _collect(data: Any, shape: tuple[int, ...], out: list[Any], name: str) -> None:
    """Append nested ``data`` to ``out``, checking every level against ``shape``."""
    if not shape or not isinstance(data, list) or len(data) != shape[0]:
        raise V2Error(f"input {name!r}: nested 'data' does not match shape {list(shape)}")
    if len(shape) == 1:
        if any(isinstance(v, list) for v in data):
            raise V2Error(f"input {name!r}: nested 'data' is deeper than its shape")
        out.extend(data)
        return
    for row in data:
        _collect(row, shape[1:], out, name)


def _from_json(values: list[Any], datatype: str, name: str) -> npt.NDArray[Any]:
    """A flat array from JSON values; ``null`` is NaN (numbers) or ``b""`` (BYTES)."""
    kinds = set(map(type, values))
    if datatype == BYTES:
        if not kinds <= _TEXT_KINDS:
            raise V2Error(f"input {name!r}: BYTES data must be strings or null")
        return _object_array([b"" if v is None else v.encode("utf-8") for v in values])
    floating = datatype.startswith("FP")
    if not kinds <= (_FLOAT_KINDS if floating else _INT_KINDS):
        kind = "numbers" if floating else "integers"
        raise V2Error(f"input {name!r}: {datatype} data must be {kind} or null")
    if datatype == "FP64":
        # JSON numbers are finite doubles (orjson refuses larger ones), so nothing can overflow
        # to infinity here: skip FP32's check (a tenth of a one-row infer's decoding).
        return np.array(values, dtype=np.float64)
    if floating:
        with np.errstate(over="ignore"):
            numbers = np.array(values, dtype=DATATYPES[datatype].newbyteorder("="))
        if np.isinf(numbers).any():
            raise V2Error(f"input {name!r}: a value is out of the {datatype} range")
        return numbers
    return _integers(values, datatype, name, missing=_NONE in kinds)


def _integers(values: list[Any], datatype: str, name: str, missing: bool) -> npt.NDArray[Any]:
    """INT32 / INT64 data checked against the type's range; float64 with NaN if ``missing``."""
    info = np.iinfo(DATATYPES[datatype])
    if any(v is not None and not info.min <= v <= info.max for v in values):
        raise V2Error(f"input {name!r}: a value is out of the {datatype} range")
    if missing:
        return np.array(values, dtype=np.float64)  # None -> NaN
    return np.array(values, dtype=DATATYPES[datatype].newbyteorder("="))


def _decode_outputs(items: Any) -> list[RequestedOutput]:
    """The requested outputs (empty when the request names none)."""
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise V2Error("'outputs' must be a list of objects")
    outputs: list[RequestedOutput] = []
    for item in items:
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise V2Error("every requested output needs a non-empty string 'name'")
        if any(out.name == name for out in outputs):
            raise V2Error(f"output {name!r} is requested more than once")
        parameters = _parameters(item, f"output {name!r}")
        if "shared_memory_region" in parameters:
            raise V2Error("the shared memory extension is not supported")
        binary = parameters.get("binary_data")
        if binary is not None and not isinstance(binary, bool):
            raise V2Error(f"output {name!r}: binary_data must be true or false")
        outputs.append(RequestedOutput(name, binary, parameters))
    return outputs


# -------------------------------------------------------------------- encoding


def encode_response(
    model_name: str,
    model_version: str | None,
    request_id: str | None,
    outputs: Iterable[tuple[str, npt.NDArray[Any]]],
    binary: set[str] | bool,
) -> tuple[bytes, dict[str, str]]:
    """A response body and its headers; ``binary``: the outputs to send as binary data (or all).

    Float, int and string/bytes arrays become FP32/FP64, INT32/INT64 and BYTES outputs; NaN is
    ``null`` in JSON. When some output is binary the headers carry ``HEADER_LENGTH``.
    """
    entries: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, array in outputs:
        arr = np.asarray(array)
        datatype = _datatype_of(arr)
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(arr.shape)}
        if binary is True or (binary is not False and name in binary):
            raw = _to_binary(arr, datatype)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = _to_json(arr, datatype)
        entries.append(entry)
    doc: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        doc["model_version"] = model_version
    if request_id is not None:
        doc["id"] = request_id
    doc["outputs"] = entries
    header = orjson.dumps(doc)
    if not chunks:
        return header, {"Content-Type": "application/json"}
    headers = {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(header))}
    return header + b"".join(chunks), headers


def _datatype_of(arr: npt.NDArray[Any]) -> str:
    """The V2 datatype an output array is sent as (``TypeError`` for any other dtype)."""
    known = _DATATYPE_OF.get(arr.dtype)  # the usual native-order dtypes, in one look-up
    if known is not None:
        return known
    if arr.dtype.kind in "USO":
        return BYTES
    for datatype, dtype in DATATYPES.items():
        if arr.dtype.kind == dtype.kind and arr.dtype.itemsize == dtype.itemsize:
            return datatype
    raise TypeError(f"no V2 datatype for output dtype {arr.dtype}")


_DATATYPE_OF: dict[np.dtype[Any], str] = {
    dtype.newbyteorder("="): datatype for datatype, dtype in DATATYPES.items()
}


def _to_binary(arr: npt.NDArray[Any], datatype: str) -> bytes:
    """The row-major binary form of ``arr`` as ``datatype``."""
    if datatype != BYTES:
        return np.ascontiguousarray(arr, dtype=DATATYPES[datatype]).tobytes()
    parts: list[bytes] = []
    for element in arr.ravel().tolist():
        raw = _element_bytes(element)
        parts.append(_LENGTH.pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)


def _to_json(arr: npt.NDArray[Any], datatype: str) -> list[Any]:
    """The flat row-major JSON ``data`` of ``arr``; BYTES elements as UTF-8 text."""
    values: list[Any] = arr.ravel().tolist()
    if datatype == BYTES:
        return [_element_bytes(v).decode("utf-8", errors="replace") for v in values]
    return values


def _element_bytes(element: Any) -> bytes:
    """One BYTES element: bytes as they are, anything else as its UTF-8 text."""
    return element if isinstance(element, bytes) else str(element).encode("utf-8")
