# The service image: the API (default command), the job worker and one-off commands.
#   docker build -t marketplace-recommender .
# See docs/operations.md for running it with compose.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# The CPU build of PyTorch first, from PyTorch's own index: the default wheel carries CUDA
# libraries worth gigabytes that a CPU server never loads. The project's pin (torch==2.13.0)
# is then already met and nothing is downloaded twice.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
# Every other dependency is pinned exactly in pyproject.toml.
RUN pip install .


# Jupyter beside the service (compose.jupyter.yaml): `docker build --target notebook .`
FROM python:3.11-slim AS notebook

ENV PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
# The pin of pyproject.toml's `notebook` extra.
RUN pip install notebook==7.6.5
RUN groupadd --system --gid 10001 recommender \
    && useradd --system --no-log-init --create-home --home-dir /app \
        --uid 10001 --gid 10001 recommender
WORKDIR /app
USER 10001:10001
EXPOSE 8888
CMD ["jupyter", "notebook", "--no-browser", "--ip=0.0.0.0", "--port=8888"]


FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN groupadd --system --gid 10001 recommender \
    && useradd --system --no-log-init --create-home --home-dir /app \
        --uid 10001 --gid 10001 recommender
COPY --from=build /opt/venv /opt/venv

# The embedded default keeps its SQLite database and artifacts under ./var; compose points
# DATABASE_URL at PostgreSQL instead.
WORKDIR /app
RUN mkdir /app/var && chown 10001:10001 /app/var
# Numeric, so that a runtime can check it is not root without the image's user database.
USER 10001:10001

EXPOSE 8000
# Alive when the server answers /health at all; readiness (200) is for load balancers.
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["python", "-m", "recommender.healthcheck", "api"]
# Several server processes need REDIS_URL and a worker container; see docs/operations.md.
CMD ["recommender", "serve", "--host", "0.0.0.0", "--workers", "2"]
