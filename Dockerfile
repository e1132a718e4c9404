# Two images from one file (docker-compose.yml builds both):
#   --target api   the API and `rnncast artifacts init`: rnncast without torch.
#   worker         (the default target) the workers, and `rnncast up`: torch pinned as `make setup` pins it,
#                  a CPU build by default. A CUDA image: --build-arg TORCH_INDEX= (PyPI's wheel, CUDA on Linux),
#                  or TORCH_INDEX=https://download.pytorch.org/whl/cu<version> for a given CUDA.
# TORCH_SPEC's default is the Makefile's (tests/e2e/test_compose.py checks that they agree).
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

FROM python:3.11-slim AS base
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 RNNCAST_DATA_DIR=/data
WORKDIR /app
RUN useradd --create-home rnncast && mkdir -p /data && chown rnncast /data

FROM base AS api
# pyproject's dependencies less torch (deploy/requirements.py), then rnncast itself with no dependency.
COPY pyproject.toml README.md ./
COPY deploy/requirements.py deploy/requirements.py
RUN python deploy/requirements.py --without torch --without numba > /tmp/requirements.txt && pip install -r /tmp/requirements.txt
COPY core core
COPY common common
COPY worker worker
COPY service service
COPY client client
COPY src src
RUN pip install --no-deps . && python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"
USER rnncast
EXPOSE 8000
ENTRYPOINT ["rnncast"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]

FROM base AS worker
ARG TORCH_SPEC
ARG TORCH_INDEX
RUN pip install ${TORCH_INDEX:+--index-url $TORCH_INDEX} "$TORCH_SPEC"
COPY pyproject.toml README.md ./
COPY core core
COPY common common
COPY worker worker
COPY service service
COPY client client
COPY src src
RUN pip install .
# The compiled code (numba: the rollout kernel, GRU's training layer) built once here into a cache the worker
# user reads back and may add to, not in each container's first GRU job or first forecast (core/compiled.py).
ENV NUMBA_CACHE_DIR=/opt/rnncast/numba
RUN mkdir -p $NUMBA_CACHE_DIR && python -m rnncast.core.compiled && chown -R rnncast $NUMBA_CACHE_DIR
USER rnncast
EXPOSE 8000
ENTRYPOINT ["rnncast"]
CMD ["up", "--host", "0.0.0.0"]
