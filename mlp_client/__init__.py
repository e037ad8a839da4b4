"""Python client for mlp-service: ``Client`` / ``AsyncClient`` over the HTTP API (httpx only;
NumPy and pandas objects are accepted when present), and the ``mlp`` command line
(:mod:`mlp_client.cli`).

    from mlp_client import Client
    with Client() as c:                      # MLP_URL / MLP_API_KEY, else 127.0.0.1:8000
        ds = c.datasets.upload(df, label="species")
        model = c.jobs.create(ds, hidden_layers=[16, 16], epochs=100).wait(progress=True)
        model.predict(df)
"""

from mlp_client._async import AsyncClient
from mlp_client._core import RetryPolicy, WaitTimeout
from mlp_client._sync import Client
from mlp_client._tables import Table, read_csv
from mlp_client.errors import (
    Conflict,
    ConnectionFailed,
    InvalidInput,
    JobFailed,
    MLPError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
)
from mlp_client.types import (
    AsyncJob,
    AsyncModel,
    AsyncSweep,
    Dataset,
    Job,
    JobEvent,
    Model,
    Prediction,
    Sweep,
)

__all__ = [
    "AsyncClient",
    "AsyncJob",
    "AsyncModel",
    "AsyncSweep",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Dataset",
    "InvalidInput",
    "Job",
    "JobEvent",
    "JobFailed",
    "MLPError",
    "Model",
    "NotFound",
    "Prediction",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "Sweep",
    "Table",
    "Unauthorized",
    "WaitTimeout",
    "read_csv",
]
