"""One router per resource; what their routes declare alike is declared here once."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from app.schemas.common import error_responses

__all__ = ["DELETE_ROUTE"]

# ``DELETE /v1/<resource>/{id}``: 204 with no body, 404 for an unknown ID.
DELETE_ROUTE: dict[str, Any] = {
    "status_code": 204,
    "response_class": Response,
    "responses": error_responses(404, 422),
}
