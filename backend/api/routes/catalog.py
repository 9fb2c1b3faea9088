"""What can be trained: models, datasets, optimizers and schedulers with their options."""

from functools import lru_cache
from typing import Any

from fastapi import APIRouter

from backend.api.deps import ReadAuth
from backend.services.catalog import build_catalog
from worker.engine.spec import TrainSpec

router = APIRouter(prefix="/catalog", tags=["catalog"])


@lru_cache
def _catalog() -> dict[str, Any]:
    return {**build_catalog(), "spec_schema": TrainSpec.model_json_schema()}


@router.get("", dependencies=[ReadAuth])
def read_catalog() -> dict[str, Any]:
    """Models, datasets, optimizers and schedulers, each with its options (type, default, bounds,
    choices), and the JSON schema of a `TrainSpec`: enough to generate a form or a script."""
    return _catalog()
