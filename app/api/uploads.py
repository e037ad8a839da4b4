"""Request bodies read by hand: the media type, size-limited streaming and a multipart file."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from email.message import Message

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from app.errors import InvalidInput, PayloadTooLarge

__all__ = ["media_type", "read_file_upload"]

_MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries and part headers around the file


def media_type(request: Request, default: str = "application/json") -> str:
    """The request's ``Content-Type`` without parameters, lower case (``default`` if absent)."""
    header = request.headers.get("content-type")
    if not header:
        return default
    message = Message()
    message["content-type"] = header
    return message.get_content_type()


async def read_file_upload(request: Request, limit: int) -> bytes:
    """An uploaded file of at most ``limit`` bytes: the raw body, or the multipart field
    ``file``; 413 as soon as the streamed body shows it is larger."""
    if media_type(request, "application/octet-stream") == "multipart/form-data":
        return await _multipart_file(request, limit)
    return b"".join([chunk async for chunk in _limited_stream(request, limit, limit)])


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the model file is too large: the limit is {limit} bytes")


async def _limited_stream(
    request: Request, max_bytes: int, limit: int
) -> AsyncGenerator[bytes, None]:
    """The request body, chunk by chunk; 413 as soon as it passes ``max_bytes``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(limit)
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise _too_large(limit)
        yield chunk


async def _multipart_file(request: Request, limit: int) -> bytes:
    """The bytes of the multipart field ``file`` (size-limited while streaming)."""
    stream = _limited_stream(request, limit + _MULTIPART_OVERHEAD_BYTES, limit)
    parser = MultiPartParser(request.headers, stream, max_files=1, max_fields=16)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidInput(("body",), f"malformed multipart body: {exc.message}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput(("body", "file"), "the multipart field 'file' (a file) is required")
        data = await upload.read(limit + 1)
    finally:
        await form.close()
    if len(data) > limit:
        raise _too_large(limit)
    return data
