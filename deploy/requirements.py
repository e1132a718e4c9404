"""pyproject.toml's dependencies less some, one a line. The Dockerfile's `api` image installs rnncast without
torch so: `python deploy/requirements.py --without torch > req.txt && pip install -r req.txt`, then
`pip install --no-deps .`."""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalized(name: str) -> str:
    """A distribution's name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(without: set[str], pyproject: Path = PYPROJECT) -> list[str]:
    """The project's dependencies whose distribution is not in `without`."""
    dropped = {normalized(name) for name in without}
    listed = {dep: normalized(match.group(1)) for dep in tomllib.loads(pyproject.read_text())["project"]["dependencies"]
              if (match := NAME.match(dep))}
    unknown = dropped - set(listed.values())
    if unknown:
        raise SystemExit(f"not a dependency of rnncast: {', '.join(sorted(unknown))}")
    return [dep for dep, name in listed.items() if name not in dropped]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--without", action="append", default=[], help="a distribution to leave out (repeatable)")
    args = parser.parse_args()
    print("\n".join(requirements(set(args.without))))  # noqa: T201


if __name__ == "__main__":
    main()
