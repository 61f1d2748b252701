# syntax=docker/dockerfile:1
# docker-compose.yml's kafka-setup: creates every topic and applies the Kafka access table
# (tdu_shared.access.kafka) as the broker's super user, with the development launcher's own code
# (`tdu-infra kafka-setup`), then exits. The development tooling (tdu-dev) is in this one-shot image only,
# never in a service's. Same pattern as the services' images (uv.lock, no dev group, non-root).
# Build context: the repository root (docker compose builds it as `kafka-setup`).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY tools/pyproject.toml tools/
COPY services/offers/pyproject.toml services/offers/
COPY services/trainings/pyproject.toml services/trainings/
COPY services/matching/pyproject.toml services/matching/
COPY services/journeys/pyproject.toml services/journeys/
COPY services/notifications/pyproject.toml services/notifications/
COPY services/web/pyproject.toml services/web/
RUN uv sync --frozen --no-dev --no-install-workspace --package tdu-dev
COPY shared/src shared/src
COPY tools/src tools/src
RUN uv sync --frozen --no-dev --no-editable --package tdu-dev

FROM ${PYTHON_IMAGE}
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/app/.venv/bin:$PATH
RUN useradd --system --no-log-init --uid 10001 --user-group --no-create-home --home-dir /nonexistent tdu
COPY --from=build /app/.venv /app/.venv
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["tdu-infra"]
CMD ["kafka-setup"]
