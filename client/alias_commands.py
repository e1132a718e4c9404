"""Client commands for model aliases: set (move, optionally behind a promotion gate), get, list, delete."""

from __future__ import annotations

from typing import Annotated

import typer

from rnncast.client.aliases import Evidence, PromotionRefused
from rnncast.client.commands import client, emit_json, handled, out
from rnncast.client.options import JsonOpt, KeyOpt, UrlOpt
from rnncast.client.tables import print_list, short, when
from rnncast.common import defaults as D
from rnncast.common.aliases import GATE_FIELDS, PromotionGate
from rnncast.common.declaration import check_value, spec

alias_app = typer.Typer(help="Model aliases (`@production`): move one behind a promotion gate, read its history.",
                        no_args_is_help=True)
GATE_HELP = "; ".join(f"{s.name}: {s.help}" for s in spec(PromotionGate))


def parse_require(given: list[str]) -> dict[str, float]:
    """`FIELD=VALUE` pairs as a gate (a field may be given by an unambiguous prefix: `skill=0.1`), checked against
    the gate's declaration before any request."""
    specs = {s.name: s for s in spec(PromotionGate)}
    gate: dict[str, float] = {}
    for item in given:
        key, sep, raw = item.partition("=")
        named = [f for f in GATE_FIELDS if f.startswith(key.strip())] if key.strip() else []
        if not sep or len(named) != 1:
            raise typer.BadParameter(f"{item!r}: give FIELD=VALUE, FIELD one of {list(GATE_FIELDS)} (or its start)",
                                     param_hint="--require")
        try:
            value = float(raw)
            check_value(specs[named[0]], value)
        except ValueError as exc:
            raise typer.BadParameter(f"{item!r}: {exc}", param_hint="--require") from None
        gate[named[0]] = value
    return gate


def _print_evidence(found: Evidence) -> None:
    for role, figures in (("candidate", found.candidate), ("current", found.current)):
        if figures is None:
            continue
        values = "  ".join(f"{f}={getattr(figures, f):.4g}" if getattr(figures, f) is not None else f"{f}=-"
                           for f in GATE_FIELDS)
        out.print(f"  {role} {figures.model_id}: {values}  ({figures.source} {when(figures.at)})",
                  soft_wrap=True, markup=False)


def set_(
    name: Annotated[str, typer.Argument(help="The alias (lower-case letters, digits, '.', '_', '-').")],
    model_id: Annotated[str, typer.Argument(metavar="MODEL", help="A model id, a short id or @other.")],
    require: Annotated[list[str] | None, typer.Option(
        help=f"A gate bar FIELD=VALUE (repeat for more): {GATE_HELP}.")] = None,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """Point alias NAME at MODEL; with --require, only if MODEL's backtest meets each bar and does at least as
    well as the alias's current model (else exit 1 with both models' figures)."""
    gate = parse_require(require or [])
    with client(url, api_key) as c:
        try:
            moved = c.set_alias(name, model_id, require=gate or None)
        except PromotionRefused as refused:
            if json_:
                emit_json({"refused": str(refused), "evidence": refused.evidence.model_dump()})
            else:
                out.print(f"refused: {refused}", soft_wrap=True, markup=False)
                _print_evidence(refused.evidence)
            raise typer.Exit(1) from None
    if json_:
        emit_json(moved.model_dump(by_alias=True))
        return
    before = moved.previous_model_id or "nothing"
    verb = "moved" if moved.moved else "already on"
    out.print(f"@{moved.alias.name}: {verb} {moved.alias.model_id} (was {before}, move {moved.alias.moves})",
              soft_wrap=True, markup=False)
    if moved.evidence is not None:
        _print_evidence(moved.evidence)


def get(name: str, json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """The alias's model and its moves, with the evidence each was judged on."""
    with client(url, api_key) as c:
        alias = c.alias(name)
    if json_:
        emit_json(alias.model_dump(by_alias=True))
        return
    out.print(f"@{alias.name} -> {alias.model_id}", soft_wrap=True, markup=False)
    print_list(out, ["move", "from", "to", "at", "gate"],
               [[str(m.seq), short(m.from_ or "-"), short(m.to), when(m.at),
                 "-" if m.evidence is None else ("passed" if m.evidence.passed else "refused")]
                for m in alias.history], numeric=["move"])


def list_(limit: Annotated[int, typer.Option(min=1, max=D.MAX_LIST_PAGE)] = D.LIST_PAGE,
          json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Every alias and the model it points at."""
    with client(url, api_key) as c:
        page = c.aliases(limit=limit)
    if json_:
        emit_json(page)
        return
    print_list(out, ["alias", "model", "moves", "moved"],
               [[a.name, a.model_id, str(a.moves), when(a.moved_at)] for a in page.data], numeric=["moves"])
    out.print(f"{len(page.data)} of {page.count}")


def delete(name: str, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Forget the alias and its history (its model stays)."""
    with client(url, api_key) as c:
        c.delete_alias(name)
    out.print(f"@{name}: deleted", markup=False)


for _command, _name in ((set_, "set"), (get, "get"), (list_, "list"), (delete, "delete")):
    alias_app.command(name=_name)(handled(_command))
