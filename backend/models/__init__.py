"""SQLAlchemy tables."""

from backend.models.base import Base
from backend.models.metric import MetricPoint
from backend.models.run import Run, RunStatus
from backend.models.study import Study

__all__ = ["Base", "MetricPoint", "Run", "RunStatus", "Study"]
