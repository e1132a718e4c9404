"""The HTTP ceiling: a bare FastAPI endpoint with rnncast's forecast body validation and a fixed answer of the
same size (no model, no Redis): what one uvicorn process can carry for this request and response.
Usage: python bench/bare_forecast.py ANSWER_JSON_FILE PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Response

from rnncast.service.schemas import ForecastRequest

answer = Path(sys.argv[1]).read_bytes()
app = FastAPI()


@app.post("/v1/models/{model_id}/forecast")
async def forecast(model_id: str, body: ForecastRequest) -> Response:
    return Response(answer, media_type="application/json")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
