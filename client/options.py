"""Command-line options shared by the client commands; the training flags derive from `common.options`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import MISSING
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

from rnncast.common import options as O
from rnncast.common.defaults import MAX_INTERVAL_LEVELS

UrlOpt = Annotated[str | None, typer.Option("--url", help="API address (default: RNNCAST_URL).")]
KeyOpt = Annotated[str | None, typer.Option("--api-key", help="API key (default: RNNCAST_API_KEY).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print raw JSON for scripts.")]
WatchOpt = Annotated[bool, typer.Option("--watch", help="Show live progress until it ends.")]
# Names and tags: given at creation (--tag, repeatable), and the filters of the lists.
TagOpt = Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeat for more; team=ml reads as a label).")]
NameFilter = Annotated[str | None, typer.Option("--name", help="Only those with this name (exactly).")]
TagFilter = Annotated[list[str] | None, typer.Option("--tag", help="Only those with this tag (repeat: all of them).")]
CellFilter = Annotated[str | None, typer.Option("--cell", help="Only those of this cell (RNN, LSTM, GRU).")]
DatasetFilter = Annotated[str | None, typer.Option("--dataset", help="Only those trained on this dataset (an id).")]
IntervalOpt = Annotated[list[float] | None, typer.Option(
    "--interval", min=0, max=1, help="A prediction-interval level in (0, 1), e.g. 0.8; repeat for more "
    f"(at most {MAX_INTERVAL_LEVELS}).")]

F = TypeVar("F", bound=Callable[..., Any])

# The declarations a training command takes, and the fields that are not flags (given otherwise).
# The sine's fields go under `data`, flat on the command line (--noise-std, --points): no other
# declared field shares their names; --dataset trains on a stored dataset instead.
TRAIN_DECLARATIONS: tuple[tuple[str, type[O.Options], frozenset[str]], ...] = (
    ("", O.ModelOptions, frozenset({"cell"})),
    ("", O.TrainOptions, frozenset({"seed"})),
    ("", O.JobOptions, frozenset()),
    ("data", O.SineData, frozenset({"kind"})),
)
DATASET_FIELDS = frozenset({"train_fraction"})  # what a dataset reference takes besides its id
# Names flags had before they were derived from the declaration, still accepted.
OLD_FLAGS = {"rollout_finetune.epochs": "--rollout-epochs", "rollout_finetune.horizon": "--rollout-horizon",
             "rollout_finetune.lr": "--rollout-lr"}


def train_leaves() -> list[tuple[str, str, O.Spec]]:
    """(path in the request, dotted name for the flag, spec) of every training flag."""
    out = []
    for under, cls, skip in TRAIN_DECLARATIONS:
        for dotted, s in O.leaves(cls, skip):
            out.append((f"{under}.{dotted}" if under else dotted, dotted, s))
    return out


def flag_name(dotted: str) -> str:
    """`early_stopping.patience` -> `--early-stopping-patience`."""
    return "--" + dotted.replace(".", "-").replace("_", "-")


def _check(s: O.Spec) -> Callable[[Any], Any]:
    """A flag's value checked against its declaration, before any HTTP (the server checks it again)."""

    def check(value: Any) -> Any:
        if value is not None:
            try:
                O.check_value(s, value)
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from None
        return value

    return check


def _option(dotted: str, s: O.Spec) -> Any:
    """The Typer parameter of one declared leaf field."""
    if s.null_means is O.RECIPE_VALUE:
        default = " (default: the recipe's)"
    else:
        default = "" if s.default is None or s.default is MISSING else f" (default: {s.default})"
    help_text = f"{s.help[:1].upper()}{s.help[1:]}{default}."
    choices = s.choices
    flag = flag_name(dotted)
    if s.base is bool:
        base: Any = bool
        option = typer.Option(f"{flag}/--no-{flag[2:]}", help=help_text)
    elif choices is not None:
        base = str
        option = typer.Option(flag, help=f"{help_text} One of: {', '.join(map(str, choices))}.", callback=_check(s))
    else:
        base = s.base
        option = typer.Option(flag, *([OLD_FLAGS[dotted]] if dotted in OLD_FLAGS else []), help=help_text,
                              callback=_check(s))
    return Annotated[base | None, option]


def _put(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def training_flags(func: F) -> F:
    """One Typer option per leaf field of the training declarations (`common.options`), plus --dataset.

    The command receives `options`: the job fields the flags set, nested as the request nests them
    (`early_stopping: {patience}`); a flag left out is not sent, so the server's recipe and defaults apply.
    """
    leaves = train_leaves()
    hints = get_type_hints(func, include_extras=True)  # the command's own annotations, resolved in its module
    own = [p.replace(annotation=hints[p.name]) for p in inspect.signature(func).parameters.values()
           if p.name != "options"]
    added = [inspect.Parameter(path.replace(".", "__"), inspect.Parameter.KEYWORD_ONLY, default=None,
                               annotation=_option(dotted, s)) for path, dotted, s in leaves]
    added.append(inspect.Parameter("dataset", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        str | None, typer.Option("--dataset", help="Train on this dataset (its id) instead of the sine.")]))

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        options: dict[str, Any] = {}
        for path, _, _ in leaves:
            value = kwargs.pop(path.replace(".", "__"))
            if value is not None:
                _put(options, path, value)
        dataset = kwargs.pop("dataset")
        if dataset is not None:
            data = options.pop("data", {})
            sine_only = sorted(flag_name(k) for k in data if k not in DATASET_FIELDS)
            if sine_only:
                raise typer.BadParameter(f"{', '.join(sine_only)} shape the sine: they do not apply with --dataset")
            options["data"] = {"dataset_id": dataset, **data}
        return func(**kwargs, options=options)

    command.__signature__ = inspect.Signature(own + added)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in own + added}
    return command  # type: ignore[return-value]
