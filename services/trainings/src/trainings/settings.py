"""Settings of the trainings service (environment variable = field name in upper case)."""

from __future__ import annotations

from pydantic import Field

from tdu_shared.settings import ServiceSettings


class Settings(ServiceSettings):  # type: ignore[misc, unused-ignore]  # tdu_shared has no py.typed
    mongodb_database: str = Field("trainings", description="Database owned by the trainings service.")
    http_port: int = Field(8002, description="Port the HTTP API listens on.")
    import_batch_size: int = Field(
        500, ge=1, le=5000, description="Sessions compared, stored and published together during an import."
    )
    max_upload_mb: int = Field(512, ge=1, description="Largest LHEO file the upload endpoint accepts (MB).")
