"""Model export in portable formats: ONNX (``GET /v1/models/{id}/download?format=onnx``).

The graph (preprocessing included) is written by ``mlp_engine.onnx_export.to_onnx``; the optional
``onnx`` package is needed only here, and its absence is a 501 that names it. There is no
registered media type for ONNX, so the file goes out as ``application/octet-stream`` (what
browsers, ``curl -O`` and ONNX tooling handle) with a ``.onnx`` file name.
"""

from __future__ import annotations

import logging
from typing import Literal

from app.errors import Conflict, ServiceError
from app.storage.models import ModelStore
from mlp_engine.onnx_export import OnnxUnavailable, to_onnx

__all__ = [
    "DOWNLOAD_FORMATS",
    "ONNX_MEDIA_TYPE",
    "DownloadFormat",
    "ExportUnavailable",
    "onnx_file",
]

logger = logging.getLogger(__name__)

DownloadFormat = Literal["npz", "onnx"]
DOWNLOAD_FORMATS: tuple[DownloadFormat, ...] = ("npz", "onnx")
ONNX_MEDIA_TYPE = "application/octet-stream"


class ExportUnavailable(ServiceError):
    """An export format whose optional package is not installed: 501."""

    status_code = 501
    code = "not_implemented"


def onnx_file(store: ModelStore, model_id: str) -> bytes:
    """The model ``model_id`` as a serialised ONNX model.

    Raises ``NotFound`` for an unknown model, ``ExportUnavailable`` without the ``onnx``
    package and ``Conflict`` for a model the exporter cannot express.
    """
    model = store.load(model_id)
    try:
        return to_onnx(model)
    except OnnxUnavailable:
        raise ExportUnavailable(
            "ONNX export needs the 'onnx' package, which is not installed on this server "
            "(pip install 'mlp-service[onnx]')"
        ) from None
    except ValueError as exc:
        logger.warning("ONNX export failed", extra={"model_id": model_id, "error": str(exc)})
        raise Conflict(f"model {model_id!r} cannot be exported as ONNX: {exc}") from None
