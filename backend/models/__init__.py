"""SQLAlchemy tables."""

from backend.models.base import Base
from backend.models.metric import MetricPoint, MetricSummary, MetricTile
from backend.models.run import Run, RunSource, RunStatus
from backend.models.study import Study
from backend.models.token import ApiToken
from backend.models.worker import Worker

__all__ = [
    "ApiToken",
    "Base",
    "MetricPoint",
    "MetricSummary",
    "MetricTile",
    "Run",
    "RunSource",
    "RunStatus",
    "Study",
    "Worker",
]
