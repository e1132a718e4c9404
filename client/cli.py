"""The `rnncast` command line."""

from __future__ import annotations

import typer

app = typer.Typer(help="rnncast: train and serve RNN/LSTM/GRU sine forecasters.", no_args_is_help=True)


@app.command()
def up() -> None:
    """Run the API and worker(s) together."""
    typer.echo("rnncast up: the API is not built yet.")


def main() -> None:
    app()
