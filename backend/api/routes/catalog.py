"""What can be trained: the models and datasets the workers offer, with their options, and the
contract's optimizers and schedulers."""

from typing import Any

from fastapi import APIRouter

from backend.api.deps import ReadAuth, SessionDep, SettingsDep
from backend.services.catalog import catalog_response, current_catalog

router = APIRouter(prefix="/catalog", tags=["catalog"])


@router.get("", dependencies=[ReadAuth])
def read_catalog(session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """Models and datasets offered by the workers seen recently (each with its options: type,
    default, bounds, choices; its JSON schema; its package; the workers offering it), optimizers
    and schedulers, the JSON schema of a `TrainSpec`, and the workers themselves: enough to
    generate a form or a script."""
    return catalog_response(current_catalog(session, settings), settings)
