"""``mlp``: the command line over :class:`~mlp_client.Client`.

Data goes to stdout (``--json`` for machines), progress and messages to stderr; the exit status
is 0 only on success, and every failure is one line on stderr (``mlp: error: ...``), never a
traceback. ``--url``, ``--api-key`` and ``--json`` work before or after the subcommand.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from mlp_client import _render
from mlp_client._sync import Client
from mlp_client._tables import Table, read_csv
from mlp_client.errors import ConnectionFailed, MLPError

__all__ = ["main"]

logger = logging.getLogger("mlp_client.cli")

F = TypeVar("F", bound=Callable[..., Any])
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass
class Settings:
    """Global options, from wherever on the command line they were given."""

    url: str | None = None
    api_key: str | None = None
    json: bool = False


def _settings(ctx: click.Context) -> Settings:
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = Settings()
    return root.obj


def _store(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value not in (None, False):
            setattr(_settings(ctx), name, value)

    return callback


def common_options(f: F) -> F:
    """``--url``, ``--api-key`` and ``--json``, accepted on the group and on every command."""
    f = click.option(
        "--json",
        "as_json",
        is_flag=True,
        expose_value=False,
        callback=_store("json"),
        help="Print JSON (the server's documents) instead of text.",
    )(f)
    f = click.option(
        "--api-key",
        metavar="KEY",
        expose_value=False,
        callback=_store("api_key"),
        help="API key (default: $MLP_API_KEY).",
    )(f)
    f = click.option(
        "--url",
        metavar="URL",
        expose_value=False,
        callback=_store("url"),
        help="Server URL (default: $MLP_URL, else http://127.0.0.1:8000).",
    )(f)
    return f


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"mlp: error: {_one_line(message)}", err=True)
    sys.exit(code)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ConnectionFailed):
        return f"{exc} (is the server running? see --url / MLP_URL)"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror or exc}: {exc.filename}"
    return str(exc) or type(exc).__name__


class MLPGroup(click.Group):
    """A group whose failures are one line on stderr and a non-zero exit status."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            fail("interrupted", 130)
        except click.ClickException as exc:
            hint = " (see --help)" if isinstance(exc, click.UsageError) else ""
            fail(exc.format_message() + hint, exc.exit_code)
        except BrokenPipeError:  # e.g. ``mlp models ls | head -1``: stop quietly
            _silence_stdout()
            sys.exit(1)
        except (MLPError, OSError, ValueError, TypeError) as exc:
            fail(_error_text(exc))
        except Exception as exc:  # a bug or a document this client does not understand
            logger.debug("unexpected error", exc_info=exc)
            fail(f"unexpected {type(exc).__name__}: {exc}")
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


def _client(ctx: click.Context) -> Client:
    settings = _settings(ctx)
    client = Client(settings.url, settings.api_key)
    ctx.call_on_close(client.close)
    return client


def _as_json(ctx: click.Context) -> bool:
    return _settings(ctx).json


def _print_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, default=str))


def _note(text: str) -> None:
    click.echo(text, err=True)


def _read_table(source: str) -> Table:
    if source == "-":
        return read_csv(sys.stdin)
    return read_csv(source)


def _names(value: str | None) -> list[str] | None:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def _hidden(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected units per layer like 16,16, got {value!r}") from None


@click.group(cls=MLPGroup, context_settings=CONTEXT)
@common_options
def cli() -> None:
    """Train and use models on an mlp-service server.

    \b
    Example:
      mlp train iris.csv --label species --epochs 200
      mlp predict mdl_abc -i new.csv -o predicted.csv
    """


@cli.command(context_settings=CONTEXT)
@common_options
@click.pass_context
def health(ctx: click.Context) -> None:
    """Show whether the server is up (exit 1 if it is not).

    \b
    Example:
      mlp health --url http://127.0.0.1:8000
    """
    client = _client(ctx)
    doc = client.health()
    if _as_json(ctx):
        _print_json(doc)
    else:
        click.echo(f"{doc.get('status')} {doc.get('version', '')} {client.base_url}".strip())


@cli.command(context_settings=CONTEXT)
@click.argument("file", metavar="FILE.csv")
@click.option("--label", required=True, help="The label column's name.")
@click.option("--hidden", metavar="UNITS", help="Units per hidden layer, e.g. 16,16.")
@click.option("--epochs", type=click.IntRange(min=1), help="Passes over the data.")
@click.option("--test-fraction", type=click.FloatRange(0, 1, max_open=True), help="Held-out rows.")
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), help="Step size.")
@click.option("--activation", help="Hidden activation: relu, tanh, sigmoid, ...")
@click.option("--task", type=click.Choice(["classification", "regression"]))
@click.option("--categorical", metavar="A,B", help="Force these columns categorical.")
@click.option("--ignore", metavar="A,B", help="Drop these columns (e.g. an ID).")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed.")
@click.option("--name", help="A name for the dataset and the model.")
@click.option("--no-wait", is_flag=True, help="Print the job's ID and return at once.")
@common_options
@click.pass_context
def train(ctx: click.Context, /, file: str, label: str, **options: Any) -> None:
    """Upload FILE.csv and train a model on it; prints the model's ID last.

    \b
    Example:
      mlp train iris.csv --label species --hidden 16,16 --epochs 200 --test-fraction 0.2
    """
    if not Path(file).is_file():
        fail(f"no such file: {file}")
    hidden = _hidden(options["hidden"])  # refused before anything is uploaded
    client = _client(ctx)
    dataset = client.datasets.upload(
        file,
        label,
        task=options["task"],
        name=options["name"],
        categorical=_names(options["categorical"]),
        ignore=_names(options["ignore"]),
    )
    _note(f"dataset {dataset.id}: {dataset.n_samples} rows, {dataset.n_features} features")
    job = client.jobs.create(
        dataset,
        name=options["name"],
        hidden_layers=hidden,
        activation=options["activation"],
        epochs=options["epochs"],
        test_fraction=options["test_fraction"],
        learning_rate=options["learning_rate"],
        seed=options["seed"],
    )
    _note(f"job {job.id} {job.status}")
    if options["no_wait"]:
        _print_json(job.raw) if _as_json(ctx) else click.echo(job.id)
        return
    _watch(ctx, client, job.id)


def _watch(ctx: click.Context, client: Client, job_id: str) -> None:
    try:
        model = client.jobs.wait(job_id, progress=True)
    except KeyboardInterrupt:
        fail(f"interrupted; job {job_id} goes on (mlp jobs watch {job_id})", 130)
    metrics = ", ".join(
        f"{k} {v:.4f}" for k, v in model.metrics.items() if isinstance(v, int | float)
    )
    _note(f"model {model.id}" + (f": {metrics}" if metrics else ""))
    _print_json(model.raw) if _as_json(ctx) else click.echo(model.id)


@cli.command(context_settings=CONTEXT)
@click.argument("model")
@click.option(
    "-i", "--input", "source", required=True, metavar="FILE.csv|-", help="Rows to predict."
)
@click.option("-o", "--output", metavar="OUT.csv", help="Write the CSV here (default: stdout).")
@common_options
@click.pass_context
def predict(ctx: click.Context, model: str, source: str, output: str | None) -> None:
    """Predict every row of a CSV: its columns plus `prediction` and `p_<class>` columns.

    \b
    Example:
      mlp predict mdl_abc -i new.csv -o predicted.csv
      cat new.csv | mlp predict mdl_abc -i - --json
    """
    table = _read_table(source)
    result = _client(ctx).models.get(model).prediction(table)
    text = (
        json.dumps(result.raw, indent=2) + "\n"
        if _as_json(ctx)
        else _render.prediction_csv(table, result)
    )
    if output and output != "-":
        Path(output).write_text(text, encoding="utf-8")
        _note(f"wrote {len(result.predictions)} predictions to {output}")
    else:
        click.echo(text, nl=False)


@cli.command(context_settings=CONTEXT)
@click.argument("model")
@click.option("-i", "--input", "source", required=True, metavar="FILE.csv|-", help="Labelled rows.")
@click.option("--label", help="The label column (default: the model's).")
@common_options
@click.pass_context
def evaluate(ctx: click.Context, model: str, source: str, label: str | None) -> None:
    """Score a model on a labelled CSV: metrics, confusion matrix, per-class scores.

    \b
    Example:
      mlp evaluate mdl_abc -i test.csv
    """
    table = _read_table(source)
    result = _client(ctx).models.get(model).evaluate(table, label=label)
    _print_json(result) if _as_json(ctx) else click.echo(_render.evaluation_report(result))


@cli.command(context_settings=CONTEXT)
@click.argument("model")
@click.option("-o", "--output", required=True, metavar="FILE.png", help="Where to write it.")
@click.option("--resolution", type=click.IntRange(min=2), help="Grid points per axis.")
@click.option("--features", metavar="A,B", help="The two features to plot.")
@common_options
@click.pass_context
def boundary(
    ctx: click.Context, model: str, output: str, resolution: int | None, features: str | None
) -> None:
    """Draw a model's decision boundary as a PNG.

    \b
    Example:
      mlp boundary mdl_abc -o boundary.png --resolution 200
    """
    query = {"resolution": resolution, "features": features}
    picture = _client(ctx).models.boundary(model, format="png", **query)
    Path(output).write_bytes(picture)
    _note(f"wrote {output} ({len(picture)} bytes)")


def _ls_command(
    group: click.Group,
    columns: Sequence[str],
    fetch: Callable[..., list[Any]],
    *options: Callable[[Any], Any],
) -> None:
    @click.pass_context
    def ls(ctx: click.Context, /, **filters: Any) -> None:
        items = fetch(_client(ctx), **filters)
        if _as_json(ctx):
            _print_json([item.raw for item in items])
        else:
            rows = [[item.raw.get(c) for c in columns] for item in items]
            click.echo(_render.table(list(columns), rows))

    command: Any = ls
    for option in (common_options, *options):
        command = option(command)
    name = group.name
    command.__doc__ = f"List the {name}, newest first.\n\n\b\nExample:\n  mlp {name} ls --json"
    group.command("ls", context_settings=CONTEXT)(command)


@cli.group(context_settings=CONTEXT)
@common_options
def datasets() -> None:
    """Datasets stored on the server.

    \b
    Example:
      mlp datasets ls
    """


@cli.group(context_settings=CONTEXT)
@common_options
def jobs() -> None:
    """Training jobs.

    \b
    Example:
      mlp jobs watch job_abc
    """


@cli.group(context_settings=CONTEXT)
@common_options
def models() -> None:
    """Trained models.

    \b
    Example:
      mlp models ls
    """


@cli.group(context_settings=CONTEXT)
@common_options
def sweeps() -> None:
    """Hyper-parameter sweeps.

    \b
    Example:
      mlp sweeps ls
    """


_ls_command(
    datasets,
    ["id", "name", "n_samples", "n_features", "task", "created_at"],
    lambda c: c.datasets.list(),
)
_ls_command(
    jobs,
    ["id", "status", "model_id", "dataset_id", "created_at"],
    lambda c, status, limit: c.jobs.list(status=status, limit=limit),
    click.option("--status", help="Only jobs in this state (queued, running, succeeded...)."),
    click.option("--limit", type=click.IntRange(1, 1000), help="At most this many."),
)
_ls_command(models, ["id", "name", "task", "layers", "created_at"], lambda c: c.models.list())
_ls_command(sweeps, ["id", "status", "metric", "created_at"], lambda c: c.sweeps.list())


@jobs.command("watch", context_settings=CONTEXT)
@click.argument("job")
@common_options
@click.pass_context
def watch(ctx: click.Context, job: str) -> None:
    """Follow a job to its end with live progress; prints its model's ID (exit 1 if the job
    failed or was cancelled).

    \b
    Example:
      mlp jobs watch job_abc
    """
    _watch(ctx, _client(ctx), job)


def main() -> None:
    """The ``mlp`` entry point."""
    cli.main(prog_name="mlp")
