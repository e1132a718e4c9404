"""What the CLI prints for people: lists that read at 80 columns and in a pipe, a dataset's fields, and
usage errors as one line on stderr."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest
from typer.testing import CliRunner

from rnncast.client.api import Client
from rnncast.client.cli import app
from rnncast.client.watch import fmt
from tests.support import ROOT

LONG_NAME = "monthly sunspot numbers since 1749, smoothed over thirteen months"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RULES = set("│┃━─┏┓┗┛┡┩└┘╇╈")


def in_a_terminal(*args: str, columns: int = 80) -> str:
    """`rnncast ARGS` in a pseudo-terminal `columns` wide: what a person sees, styles removed."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")}
    proc = subprocess.Popen([sys.executable, "-m", "rnncast.client", *args], cwd=ROOT, stdin=child, stdout=child,
                            stderr=child, env=env | {"TERM": "xterm"})
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert proc.wait(timeout=60) == 0, b"".join(chunks).decode(errors="replace")
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")


def piped(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def shown(stack):
    """A finished job (its model), a dataset with a name too long for 80 columns and a finished comparison."""
    with Client(stack.api.url) as c:
        job = c.train("GRU", name="a label", epochs=2, lr=0.01, hidden_size=4, batch_size=64, sequence_length=10,
                      data={"points": 200, "stop": 100})
        done = c.wait(job.id)
        model = c.model(done.model_id)
        dataset = c.create_dataset(LONG_NAME, [float(k % 11) for k in range(500)], step=0.5)
        study = c.wait_comparison(c.compare(cells=["RNN", "GRU"], seeds=[0, 1], epochs=2, hidden_size=4,
                                            batch_size=64, sequence_length=10, data={"points": 200, "stop": 100}).id)
    return done, model, dataset, study


def rows(stack, done, model, dataset, study) -> dict[str, tuple[str, list[str]]]:
    """Per list, the id shown and what its row must carry whole."""
    return {
        "jobs": (done.id[:8], ["GRU", "succeeded", "2/2", fmt(done.metrics.test_loss)]),
        "models": (model.id[:8], ["GRU", str(model.epochs_trained), str(model.parameters),
                                  fmt(model.metrics.test_loss)]),
        "datasets": (dataset.id[:8], ["500", "0.5", f"{dataset.stats.mean:.4g}", f"{dataset.stats.std:.4g}"]),
        "comparisons": (study.id[:8], ["succeeded", "RNN,GRU", "0,1", "4/4", str(study.best_cell)]),
    }


def assert_row(text: str, short_id: str, fields: list[str], width: int | None) -> None:
    lines = text.splitlines()
    row = next(line for line in lines if line.startswith(short_id))
    assert all(f in row.split() for f in fields), (row, fields)  # whole, on the id's line: never cut or wrapped
    assert short_id + "…" not in text and not re.search(r"\b[0-9a-f]{9,}\b", row)  # ids short, not cut
    if width is not None:
        assert max(len(line) for line in lines) <= width, text


@pytest.mark.parametrize("command", ["jobs", "models", "datasets", "comparisons"])
def test_lists_read_at_80_columns_in_a_terminal(stack, shown, command):
    short_id, fields = rows(stack, *shown)[command]
    text = in_a_terminal(command, "--limit", "200", "--url", stack.api.url)
    assert_row(text, short_id, fields, width=80)
    if command == "datasets":  # only free text gives way, with an ellipsis
        assert "…" in next(line for line in text.splitlines() if line.startswith(short_id))


@pytest.mark.parametrize("command", ["jobs", "models", "datasets", "comparisons"])
def test_lists_in_a_pipe_are_plain_aligned_text_cut_nowhere(stack, shown, command):
    short_id, fields = rows(stack, *shown)[command]
    text = piped(command, "--limit", "200", "--url", stack.api.url)
    assert_row(text, short_id, fields, width=None)
    assert not RULES & set(text) and "…" not in text
    if command == "datasets":
        assert LONG_NAME in text


def test_a_column_empty_on_every_row_is_left_out(idle):
    with Client(idle.url) as c:
        c.train("RNN", epochs=2)
    header = piped("jobs", "--url", idle.url).splitlines()[0].split()
    assert header[:3] == ["id", "cell", "status"] and "name" not in header
    with Client(idle.url) as c:
        c.train("RNN", epochs=2, name="labelled")
    assert "name" in piped("jobs", "--url", idle.url).splitlines()[0].split()


def test_dataset_prints_its_fields(stack, shown):
    dataset = shown[2]
    text = piped("dataset", dataset.id, "--url", stack.api.url)
    fields = dict(line.split(":", 1) for line in text.splitlines())
    fields = {k: v.strip() for k, v in fields.items()}
    assert fields["id"] == dataset.id and fields["name"] == LONG_NAME and fields["length"] == "500 values"
    assert fields["step"] == "0.5" and fields["source"] == "format json"
    assert fields["first values"] == "0, 1, 2, 3, 4"
    assert "{" not in text and "'" not in text  # no Python repr


@pytest.mark.parametrize(("args", "says"), [
    (["train"], "Missing option '--cell'"),
    (["jobs", "--bogus"], "No such option: --bogus"),
    (["jobs", "--limit", "many"], "Invalid value for '--limit': 'many'"),
    (["train", "--cell", "GRU", "--hidden-size", "0"], "hidden_size (0) must be >= 1"),
])
def test_usage_errors_are_one_line_on_stderr_exit_2(args, says):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and says in result.stderr, result.stderr
    assert result.stderr.startswith("error: ") and "--help" in result.stderr


def test_usage_error_of_the_installed_command_is_one_line():
    proc = subprocess.run([sys.executable, "-m", "rnncast.client", "train", "--epochs", "3"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["error: Missing option '--cell'. (see: rnncast train --help)"]
