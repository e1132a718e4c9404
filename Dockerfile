# One image for the API and the workers. On a GPU host the default torch wheel
# (CUDA) is what we want; pass --build-arg TORCH_SPEC=torch==2.13.0 with
# --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cpu for a CPU image.
FROM python:3.11-slim
ARG TORCH_SPEC=torch
ARG TORCH_INDEX=
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 RNNCAST_DATA_DIR=/data
WORKDIR /app
RUN pip install ${TORCH_INDEX:+--index-url $TORCH_INDEX} "$TORCH_SPEC"
COPY pyproject.toml README.md ./
COPY core core
COPY common common
COPY worker worker
COPY service service
COPY client client
COPY src src
RUN pip install . && useradd --create-home rnncast && mkdir -p /data && chown rnncast /data
USER rnncast
EXPOSE 8000
ENTRYPOINT ["rnncast"]
CMD ["up", "--host", "0.0.0.0"]
