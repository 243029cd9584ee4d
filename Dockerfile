# Buddy's image. Two stages: `builder` has the compiler (llama-cpp-python compiles llama.cpp from
# source) and builds every wheel into a virtualenv; `runtime` is slim, copies only that virtualenv
# and runs as a non-root user.
#
# Build arguments:
#   EXTRAS      which extras of `buddy` to install. Empty (the default) serves with Ollama: neither
#               llama-cpp-python nor the training stack. `llamacpp` serves the local GGUF model,
#               `train` adds LoRA training, `all` is everything (what `.ci/setup` installs).
#   TORCH_INDEX where torch comes from. The CPU index by default: PyPI's torch is a multi-GB CUDA
#               build. The compose `trainer` profile passes a CUDA index instead.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/buddy
WORKDIR /src
# Dependencies first, so that a change to the code does not rebuild llama.cpp or fetch torch.
COPY pyproject.toml README.md ./
ARG EXTRAS=""
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# The package without its code yet (setuptools finds no module): pip resolves and installs only
# the dependencies here; the code is put in place below with --no-deps.
RUN spec=.; if [ -n "${EXTRAS}" ]; then spec=".[${EXTRAS}]"; fi \
    && /opt/buddy/bin/pip install --extra-index-url "${TORCH_INDEX}" "${spec}"
COPY adapters adapters
COPY bot bot
COPY domain domain
COPY migrations migrations
COPY scheduler scheduler
COPY training training
RUN /opt/buddy/bin/pip install --no-deps --force-reinstall .

FROM ${PYTHON_IMAGE} AS runtime
# libgomp1: the OpenMP runtime llama.cpp and torch link against; git: registered Git sources.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --uid 10001 --user-group buddy \
    && mkdir /data \
    && chown buddy:buddy /data
COPY --from=builder /opt/buddy /opt/buddy
ENV PATH=/opt/buddy/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BUDDY_DATA_DIR=/data \
    BUDDY_HOST=0.0.0.0 \
    BUDDY_PORT=3000 \
    HF_HUB_OFFLINE=1
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=5 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('BUDDY_PORT', '3000') + '/readyz', timeout=4)"]
# The schema is brought up to date, then the server replaces the shell (signals reach it).
CMD ["sh", "-c", "buddy db upgrade && exec buddy serve"]
