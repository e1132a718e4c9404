"""Reading a dataset upload: JSON (values or a generator), a CSV body or a multipart file, each bounded by the
server's limits while it is read, none held twice."""

from __future__ import annotations

import io
from typing import Annotated, Any

import ijson
import numpy as np
from fastapi import Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import Discriminator, Tag, TypeAdapter, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from rnncast.common.csvseries import parse_csv
from rnncast.common.defaults import Missing
from rnncast.common.series import SeriesError, check_values, generate
from rnncast.common.settings import Settings
from rnncast.common.timeaxis import TimeAxis
from rnncast.service.errors import unprocessable, validation_detail
from rnncast.service.schemas import DatasetGenerated, DatasetValues


def _json_kind(value: Any) -> str:
    """A JSON body that names a generator is one; anything else is read as values (and its errors say so)."""
    return "generator" if isinstance(value, dict) and "generator" in value else "values"


JSON_BODY: TypeAdapter[DatasetValues | DatasetGenerated] = TypeAdapter(
    Annotated[Annotated[DatasetValues, Tag("values")] | Annotated[DatasetGenerated, Tag("generator")],
              Discriminator(_json_kind)])
CSV_TYPES = ("text/csv", "application/csv", "text/plain")


def too_many_values(raw: bytes | bytearray, limit: int) -> bool:
    """Whether the body's `values` hold more than `limit` numbers, read as a stream that stops there: a huge
    body is refused without being parsed whole (pydantic's parser builds the whole document first)."""
    if len(raw) < 2 * limit:  # a value takes a digit and a separator at least: it cannot be longer
        return False
    count = 0
    try:
        for _ in ijson.items(stream(raw), "values.item", use_float=True):
            count += 1
            if count > limit:
                return True
    except ijson.JSONError:  # malformed within the limit: pydantic says where
        pass
    return False


def from_json(raw: bytes | bytearray, settings: Settings) -> tuple[str, Any, float, dict[str, Any], list[str]]:
    """(name, values, step, source, tags) of a JSON body; pydantic's 422 for a malformed one."""
    limit = settings.max_dataset_points
    if too_many_values(raw, limit):
        raise SeriesError(f"values has more than {limit} values; this server's limit is "
                          f"RNNCAST_MAX_DATASET_POINTS ({limit})")
    try:
        body = JSON_BODY.validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(validation_detail(exc.errors(include_url=False), ("body",))) from None
    if isinstance(body, DatasetGenerated):
        spec = body.generator.model_dump()
        if spec["points"] > settings.max_dataset_points:
            raise SeriesError(f"generator.points ({spec['points']}) exceeds this server's limit "
                              f"RNNCAST_MAX_DATASET_POINTS ({settings.max_dataset_points})")
        with np.errstate(all="ignore"):
            values = generate(spec)
        try:
            values = check_values(values, settings.max_dataset_points)
        except SeriesError as exc:  # e.g. a period so small that 2 pi t / period overflows
            raise SeriesError(f"these generator parameters give no usable series: {exc}") from None
        name = body.name or f"{spec['kind']} (seed {spec['seed']})"
        return name, values, spec["step"], {"generator": spec}, body.tags
    values = check_values(body.values, settings.max_dataset_points)
    return body.name, values, body.step, {"format": "json"}, body.tags


async def read_body(request: Request) -> bytearray:
    """The body in one buffer that grows as its bytes arrive: a declared length reserves nothing (idle clients
    declaring large bodies cost no memory), and chunks are not held twice (as joining them would)."""
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
    return buf


class _Reader(io.RawIOBase):
    """A binary stream over a buffer, without copying it (io.BytesIO copies a bytearray)."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.view, self.at = memoryview(data), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.at, io.SEEK_END: len(self.view)}[whence]
        self.at = max(0, base + offset)
        return self.at

    def tell(self) -> int:
        return self.at

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), len(self.view) - self.at)
        buffer[:n] = self.view[self.at : self.at + n]
        self.at += n
        return n


def stream(data: bytes | bytearray) -> io.BufferedReader:
    return io.BufferedReader(_Reader(data))


def from_csv(
    raw: bytes | bytearray, column: str | None, settings: Settings, missing: Missing = "refuse",
) -> tuple[Any, dict[str, Any], TimeAxis | None]:
    """The CSV decoded as it is read (no decoded copy of the whole body): values, source, time axis."""
    text = io.TextIOWrapper(stream(raw), encoding="utf-8", newline="")
    parsed = parse_csv(text, column, settings.max_dataset_points, missing)
    source = {"format": "csv", "column": parsed.column, "rows": parsed.rows, "time_column": parsed.time_column}
    if parsed.filled:
        source |= {"missing": missing, "filled": parsed.filled}
    return parsed.values, source, parsed.axis


async def multipart_file(request: Request) -> tuple[bytes, str]:
    """The bytes and name of a multipart body's `file` part; 422 for a malformed body or no such part."""
    try:
        async with request.form(max_files=1, max_fields=8) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise unprocessable("the multipart body needs a 'file' part holding the CSV")
            return await upload.read(), (upload.filename or "upload").rsplit("/", 1)[-1][:200] or "upload"
    except StarletteHTTPException as exc:  # the multipart parser's 400: malformed input is a 422 here
        if exc.status_code != status.HTTP_400_BAD_REQUEST:
            raise
        raise unprocessable(f"malformed multipart body: {exc.detail}") from None


