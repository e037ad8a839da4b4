"""File-backed stores for datasets and models under the data directory."""

from app.storage.datasets import DatasetMeta, DatasetStore
from app.storage.ids import ID_RE, check_id, new_id
from app.storage.models import ModelMeta, ModelStore

__all__ = [
    "ID_RE",
    "DatasetMeta",
    "DatasetStore",
    "ModelMeta",
    "ModelStore",
    "check_id",
    "new_id",
]
