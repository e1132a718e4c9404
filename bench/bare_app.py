"""A bare FastAPI endpoint returning a fixed JSON document: the baseline for api_overhead.py.

Usage: python bench/bare_app.py JSON_FILE PORT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

document = json.loads(Path(sys.argv[1]).read_text())
app = FastAPI()


@app.get("/v1/jobs/{job_id}")
async def job(job_id: str) -> JSONResponse:
    return JSONResponse(document)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
