"""uvicorn's access log, less its secrets: a query parameter that carries a credential (a stream token) is
written as `token=REDACTED`, never its value."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

import uvicorn.config

SECRET_PARAMS = ("token",)  # query parameters whose values open something (gate.stream_token)
_SECRET = re.compile(rf"(?<=[?&])({'|'.join(SECRET_PARAMS)})=[^&#\s]*")


def redact(path: str) -> str:
    """`path` (with its query) with every secret parameter's value replaced."""
    return _SECRET.sub(r"\1=REDACTED", path)


class RedactSecrets(logging.Filter):
    """On `uvicorn.access`: its records' path argument (client, method, path, version, status) redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with `RedactSecrets` on the access logger."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    config["loggers"]["uvicorn.access"]["filters"] = ["redact_secrets"]
    return config
