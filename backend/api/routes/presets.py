"""Study presets: the course studies as study definitions (base spec, grid, seeds) that POST
/studies takes as they are; the New Run page fills its form from them."""

from fastapi import APIRouter

from backend.api.deps import ReadAuth
from backend.schemas.preset import PresetsPublic
from trainboard.presets import PRESETS

router = APIRouter(prefix="/presets", tags=["presets"])


@router.get("", dependencies=[ReadAuth])
def list_presets() -> PresetsPublic:
    """Every preset: its name (the study's name), title, what it reproduces, base spec, grid and seeds."""
    return PresetsPublic(data=list(PRESETS), count=len(PRESETS))
