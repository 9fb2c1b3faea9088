"""The study presets the New Run page offers (`trainboard.presets`)."""

from pydantic import BaseModel, Field

from trainboard.presets import StudyPreset


class PresetsPublic(BaseModel):
    data: list[StudyPreset] = Field(description="Each preset: a study definition as POST /studies takes it")
    count: int
