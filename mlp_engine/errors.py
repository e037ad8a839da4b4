"""Typed exceptions raised by the MLP engine."""

from __future__ import annotations

__all__ = ["ConfigError", "DivergedError", "MLPEngineError", "ModelFormatError"]


class MLPEngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class ConfigError(MLPEngineError, ValueError):
    """An invalid setting. ``field`` names the offending parameter (e.g. ``"learning_rate"``;
    ``"hidden_layers"`` for ``hidden_layers[2]``), so callers never parse the message for it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ModelFormatError(MLPEngineError, ValueError):
    """A model file or model config is malformed, inconsistent or unsupported."""


class DivergedError(MLPEngineError, ArithmeticError):
    """Training produced a non-finite loss or weight.

    Attributes:
        epoch: the 1-based epoch during which divergence was detected.
    """

    def __init__(self, epoch: int, message: str | None = None) -> None:
        self.epoch = epoch
        super().__init__(
            message or f"training diverged at epoch {epoch}: loss or weights are not finite"
        )
