"""What a worker sends when it publishes its catalog, and what it is told back."""

from pydantic import BaseModel, ConfigDict, Field

from trainboard.catalog import WorkerCatalog


class WorkerPublish(WorkerCatalog):
    model_config = ConfigDict(
        json_schema_extra={"examples": [
            {"name": "trainboard@box", "hostname": "box", "queues": ["trainboard"], "models": [], "datasets": []}
        ]}
    )  # fmt: skip

    stopping: bool = Field(default=False, description="The worker is shutting down")


class WorkerPublishReply(BaseModel):
    publish_seconds: float = Field(description="Publish again after this long: the worker's liveness")
