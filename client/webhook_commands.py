"""Client commands for webhooks: subscribe, list, delete, send a test delivery, see the deliveries."""

from __future__ import annotations

from typing import Annotated

import typer

from rnncast.client.commands import client, emit_json, handled, out
from rnncast.client.options import JsonOpt, KeyOpt, UrlOpt
from rnncast.client.tables import print_list, when
from rnncast.common import defaults as D
from rnncast.common.webhooks import WebhookEvent

webhooks_app = typer.Typer(help="Signed webhooks: tell another system when a job or comparison ends.",
                           invoke_without_command=True, no_args_is_help=False)


def webhooks(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=D.MAX_LIST_PAGE)] = D.LIST_PAGE,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """List webhook subscriptions, newest first (or run one of the subcommands)."""
    if ctx.invoked_subcommand is not None:
        return
    with client(url, api_key) as c:
        page = c.webhooks(limit=limit)
    if json_:
        emit_json(page)
        return
    print_list(out, ["id", "url", "events", "created"],
               [[h.id, h.url, ",".join(h.events), when(h.created_at)] for h in page.data], free=("url",))
    out.print(f"{len(page.data)} of {page.count}")


def add(
    target: Annotated[str, typer.Argument(metavar="URL", help="Where deliveries are POSTed (http or https).")],
    event: Annotated[list[WebhookEvent], typer.Option(help="An event to deliver (repeat for more).")],
    secret: Annotated[str | None, typer.Option(
        help="The signing secret (16 characters at least; default: the server makes one).")] = None,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """Subscribe URL to events; prints the signing secret, which is never shown again."""
    with client(url, api_key) as c:
        made = c.add_webhook(target, [e.value for e in event], secret=secret)
    if json_:
        emit_json(made)
        return
    out.print(f"{made.id}: {made.url} <- {', '.join(made.events)}", soft_wrap=True, markup=False)
    out.print(f"secret: {made.secret}  (shown this once: keep it to verify deliveries)", soft_wrap=True,
              markup=False)


def delete(webhook_id: str, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Delete a subscription and its deliveries (pending ones are not sent)."""
    with client(url, api_key) as c:
        c.delete_webhook(webhook_id)
    out.print(f"{webhook_id}: deleted")


def test(webhook_id: str, json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Queue a test delivery (event webhook.test); see it arrive with `rnncast webhooks deliveries`."""
    with client(url, api_key) as c:
        delivery = c.test_webhook(webhook_id)
    if json_:
        emit_json(delivery)
        return
    out.print(f"{delivery.id}: queued")


def deliveries(
    webhook_id: str, limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """A subscription's recent deliveries: state, attempts, the last answer or error, the next attempt."""
    with client(url, api_key) as c:
        page = c.deliveries(webhook_id, limit=limit)
    if json_:
        emit_json(page)
        return
    print_list(out, ["delivery", "event", "state", "attempts", "last", "next", "delivered"],
               [[d.id, d.event, d.state, str(d.attempts),
                 str(d.last_status_code or "") or (d.last_error or "")[:40],
                 when(d.next_attempt_at or ""), when(d.delivered_at or "")] for d in page.data],
               free=("last",), numeric=["attempts"])


webhooks_app.callback()(handled(webhooks))
for _command in (add, delete, test, deliveries):
    webhooks_app.command(name=_command.__name__)(handled(_command))
