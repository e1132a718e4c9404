"""The reference pages, written at build time (mkdocs-gen-files) from the code itself: the settings from
`Settings`, the training options and the HTTP API from the app's OpenAPI document, the CLI from the Typer app.
Nothing on those pages is typed by hand, so they cannot drift from what the code does."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import mkdocs_gen_files
import typer

# The pages describe a server started with the default settings, whatever this shell exports.
for _name in [n for n in os.environ if n.startswith("RNNCAST_")]:
    del os.environ[_name]

from rnncast.client.cli import app as cli_app  # noqa: E402
from rnncast.common.settings import Settings  # noqa: E402
from rnncast.service.main import create_app  # noqa: E402

GENERATED = "Generated from the code by `docs/gen_reference.py` when the site is built; do not edit."
# When each error status is answered. The table lists the statuses the document declares, and the build fails
# on one that is not explained here, so the table cannot fall behind the routes.
WHEN = {
    401: "the API key is missing or wrong (a bad stream token too); checked before the body is read",
    403: "a state-changing request from another site's page (`Origin` or `Sec-Fetch-Site`)",
    404: "no such job, model, comparison or dataset",
    409: "the resource's state forbids it (deleting a running job, cancelling a finished one, an Idempotency-Key "
         "reused with another body)",
    413: "the body is over its limit (RNNCAST_MAX_BODY_BYTES, RNNCAST_MAX_UPLOAD_BYTES, a forecast's context)",
    415: "an upload in a content type other than JSON, CSV or multipart",
    421: "no API key is set and the `Host` is not a loopback name",
    422: "a value out of bounds, an unknown field, an unparsable body, an estimate over a limit; `detail` says "
         "which",
    429: "a queue, quota, stream or wrong-key limit is reached (with `Retry-After` where waiting helps)",
    503: "Redis, the broker, the artifact store or the workers do not answer (with `Retry-After`)",
    507: "the bytes of all model files or datasets, or a local folder's free space, are at their limit",
}


def cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped outside code spans (inside one, the table
    extension leaves them alone and an escape would show)."""
    parts = " ".join(str(value).split()).split("`")
    return "`".join(part if k % 2 else part.replace("|", "\\|") for k, part in enumerate(parts))


def number(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        value = int(value)
    text = f"`{value}`"
    if isinstance(value, int) and value >= 1024**2:
        for unit, size in (("GiB", 1024**3), ("MiB", 1024**2)):
            if value % size == 0:
                return f"{text} ({value // size} {unit})"
    return text


def bounds(schema: dict[str, Any]) -> str:
    marks = (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"),
             ("minItems", "items ≥"), ("maxItems", "items ≤"), ("minLength", "length ≥"), ("maxLength", "length ≤"))
    found = [f"{sign} {number(schema[key])}" for key, sign in marks if key in schema]
    if "pattern" in schema:
        found.append(f"matches `{schema['pattern']}`")
    return ", ".join(found)


def default_text(value: Any) -> str:
    if value is None or value == "":
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float):
        return number(value)
    return f"`{json.dumps(value) if isinstance(value, dict | list) else value}`"


def settings_page() -> str:
    schema = Settings.model_json_schema()["properties"]
    prefix = Settings.model_config.get("env_prefix", "")
    lines = ["# Settings", "", GENERATED, "",
             "Environment variables, read and validated when a process starts: a value out of bounds stops it "
             "with one line naming the variable.", "",
             "| variable | default | bounds | meaning |", "| --- | --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        prop = schema[name]
        inner = next((s for s in prop.get("anyOf", []) if s.get("type") != "null"), prop)
        default = "computed at start-up" if field.default_factory else default_text(field.get_default())
        lines.append(f"| `{prefix}{name.upper()}` | {cell(default)} | {cell(bounds(inner))} "
                     f"| {cell(field.description or '')} |")
    return "\n".join(lines) + "\n"


def ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def type_text(schema: dict[str, Any], nested: list[str]) -> str:
    """A property's type in words; every schema it refers to is appended to `nested`, to be expanded."""
    name = ref_name(schema)
    if name:
        nested.append(name)
        return f"[{name}](#{name.lower()})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [type_text(s, nested) for s in schema[key]]
            return (" or " if key == "anyOf" else " or, exactly one of, ").join(options)
    if "enum" in schema:
        return " | ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    if schema.get("type") == "array":
        return f"array of {type_text(schema.get('items', {}), nested)}"
    return str(schema.get("type", "any"))


def property_rows(schema: dict[str, Any], nested: list[str]) -> Iterator[str]:
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        inner = [s for s in prop.get("anyOf", [prop]) if s.get("type") != "null"]
        limits = ", ".join(b for b in (bounds(s) for s in inner) if b)
        if "default" in prop:
            default = default_text(prop["default"])
        else:
            default = "**required**" if name in required else "—"
        yield (f"| `{name}` | {cell(type_text(prop, nested))} | {cell(default)} | {cell(limits)} "
               f"| {cell(prop.get('description', ''))} |")


def flatten(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """A schema's own properties and required names, with those of the schemas it extends (`allOf`)."""
    merged = {"properties": {}, "required": [], "description": schema.get("description", "")}
    for part in [*schema.get("allOf", []), schema]:
        part = components.get(ref_name(part) or "", part)
        if part is not schema and "allOf" in part:
            part = flatten(part, components)
        merged["properties"].update(part.get("properties", {}))
        merged["required"] += part.get("required", [])
    return merged


def schemas_section(roots: list[str], components: dict[str, Any]) -> list[str]:
    """One table per schema, from the roots down through every schema they refer to, each once."""
    lines: list[str] = []
    queue, seen = list(roots), set()
    while queue:
        name = queue.pop(0)
        if name in seen or name not in components:
            continue
        seen.add(name)
        schema, nested = flatten(components[name], components), []
        lines += [f"## {name}", ""]
        if schema.get("description"):
            lines += [" ".join(schema["description"].split()), ""]
        lines += ["| field | type | default | bounds | meaning |", "| --- | --- | --- | --- | --- |"]
        lines += list(property_rows(schema, nested))
        lines.append("")
        queue += nested
    return lines


def options_page(document: dict[str, Any]) -> str:
    components = document["components"]["schemas"]
    lines = ["# Training options", "", GENERATED, "",
             "A training job's body (`POST /v1/jobs`) and a comparison's (`POST /v1/comparisons`, whose `train` "
             "takes the same options), as the server's OpenAPI document states them: every field with its default, "
             "bounds and meaning, nested objects expanded below their parent. A field left out takes its default "
             "or the recipe's value; the job's `params` shows every value used.", ""]
    return "\n".join(lines + schemas_section(["JobCreate", "ComparisonCreate"], components))


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "responses" in op:
                yield method.upper(), path, op


def api_page(document: dict[str, Any]) -> str:
    lines = ["# HTTP API", "", GENERATED, "",
             f"{cell(document['info'].get('description', ''))}", "",
             "The whole contract is the OpenAPI document: [openapi.json](openapi.json) here (that of a server with "
             "the default settings), and `/openapi.json` on a running server, which states its own limits. "
             "`/docs` on the server renders it.", "",
             "## Operations", "",
             "| method | path | operationId | summary | answers |", "| --- | --- | --- | --- | --- |"]
    declared: set[int] = set()
    for method, path, op in operations(document):
        codes = sorted(int(c) for c in op["responses"] if c.isdigit())
        declared.update(c for c in codes if c >= 400)
        answers = ", ".join(f"**{c}**" if c < 400 else str(c) for c in codes)
        lines.append(f"| {method} | `{path}` | `{op.get('operationId', '')}` | {cell(op.get('summary', ''))} "
                     f"| {answers} |")
    if declared - set(WHEN):
        raise SystemExit(f"docs/gen_reference.py: the API declares {sorted(declared - set(WHEN))}, which the error "
                         "table does not explain: add them to WHEN")
    lines += ["", "## Errors", "",
              "Every error is JSON `{\"detail\": ...}` and carries no stack trace or file path. A 405 lists every "
              "method of its path in `Allow`.", "",
              "| status | | when |", "| --- | --- | --- |"]
    lines += [f"| {code} | {HTTPStatus(code).phrase} | {cell(WHEN[code])} |" for code in sorted(declared)]
    return "\n".join(lines) + "\n"


def command_section(command: Any, ctx: typer.Context, depth: int) -> Iterator[str]:
    """A command's usage, help and options, then its subcommands', from the Click tree Typer builds."""
    yield f"{'#' * min(depth, 4)} `{ctx.command_path}`"
    yield ""
    help_text = (command.help or "").replace("\b", "").strip()
    if help_text:
        yield help_text
        yield ""
    yield f"```\n{command.get_usage(ctx).strip()}\n```"
    yield ""
    records = [r for p in command.params if not getattr(p, "hidden", False) and (r := p.get_help_record(ctx))]
    if records:
        yield "| option | meaning |"
        yield "| --- | --- |"
        for flags, text in records:
            yield f"| `{cell(flags)}` | {cell(text)} |"
        yield ""
    for name in getattr(command, "commands", {}):
        sub = command.commands[name]
        if not getattr(sub, "hidden", False):
            yield from command_section(sub, typer.Context(sub, info_name=name, parent=ctx), depth + 1)


def cli_page() -> str:
    root = typer.main.get_command(cli_app)
    lines = ["# CLI", "", GENERATED, "",
             "Client commands talk to RNNCAST_URL (see [Settings](settings.md)); each takes `--url`, `--api-key` "
             "and `--json`. `rnncast COMMAND --help` prints the same text.", ""]
    lines += command_section(root, typer.Context(root, info_name="rnncast"), 2)
    return "\n".join(lines) + "\n"


def main() -> None:
    document = create_app(Settings()).openapi()
    pages = {
        "reference/settings.md": settings_page(),
        "reference/training-options.md": options_page(document),
        "reference/api.md": api_page(document),
        "reference/cli.md": cli_page(),
        "reference/openapi.json": json.dumps(document, indent=2) + "\n",
    }
    for path, text in pages.items():
        with mkdocs_gen_files.open(path, "w") as f:
            f.write(text)


main()
