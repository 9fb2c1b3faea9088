"""Studies: a base spec, a grid over some of its fields and seeds per grid cell."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from backend.models.run import RunStatus
from backend.schemas.common import JsonInt, Label
from backend.schemas.run import EXAMPLE_SPEC
from trainboard.spec import TrainSpec, defer_to_catalog_check

MAX_STUDY_RUNS = 1000
MAX_SEEDS = 50
MAX_SEED = 2**32 - 1
MAX_GRID_PATHS = 10
MAX_GRID_VALUES = 100

# A dotted path into the spec: learning_rate, optimizer, model.norm, early_stopping.patience.
GRID_PATH = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
GridPath = Annotated[str, StringConstraints(pattern=GRID_PATH, max_length=200)]
GridValues = Annotated[list[Any], Field(min_length=1, max_length=MAX_GRID_VALUES)]

StudyStatus = Literal["empty", "queued", "running", "completed", "finished", "cancelled"]


class StudyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"name": "lr sweep", "base_spec": EXAMPLE_SPEC, "grid": {"learning_rate": [0.1, 0.01]}, "seeds": 2}
        ]},
    )  # fmt: skip

    name: Label = Field(description="Also the `group` of every run of the study; unique among studies")
    base_spec: TrainSpec = Field(description="The spec every run starts from")  # checked with the catalog
    grid: dict[GridPath, GridValues] = Field(
        default_factory=dict,
        max_length=MAX_GRID_PATHS,
        description="Dotted spec path -> values; the study runs every combination (Cartesian product), "
        "in this order. A value of model, dataset, optimizer or scheduler replaces the whole entry "
        '(a name or {"name": ..., options}); "model.norm" sets one option: '
        '{"model.norm": ["none", "batch", "group"], "optimizer": ["adam", "sgd"]}.',
    )
    seeds: JsonInt | list[JsonInt] = Field(
        default=3,
        description="How many seeds per cell (base_spec.seed, +1, +2...), or the seeds themselves",
    )
    max_runs: JsonInt = Field(
        default=MAX_STUDY_RUNS, ge=1, le=MAX_STUDY_RUNS, description="Refuse the study if it would make more runs"
    )

    _defer_spec_check = field_validator("base_spec", mode="wrap")(defer_to_catalog_check)

    @field_validator("seeds")
    @classmethod
    def _check_seeds(cls, value: int | list[int]) -> int | list[int]:
        if isinstance(value, int):
            if not 1 <= value <= MAX_SEEDS:
                raise ValueError(f"must be from 1 to {MAX_SEEDS} seeds per cell")
            return value
        if not 1 <= len(value) <= MAX_SEEDS:
            raise ValueError(f"must list from 1 to {MAX_SEEDS} seeds")
        if len(set(value)) < len(value):
            raise ValueError("must not repeat a seed")
        if any(not 0 <= seed <= MAX_SEED for seed in value):
            raise ValueError(f"seeds must be from 0 to {MAX_SEED}")
        return value

    @model_validator(mode="after")
    def _not_too_many_runs(self) -> "StudyCreate":
        cells = 1
        for values in self.grid.values():
            cells *= len(values)
        seeds = self.seeds if isinstance(self.seeds, int) else len(self.seeds)
        if cells * seeds > self.max_runs:
            raise ValueError(
                f"this study would make {cells * seeds} runs ({cells} cells x {seeds} seeds), "
                f"more than max_runs = {self.max_runs}"
            )
        base_seed = self.base_spec.get("seed", 0)  # kept as sent (checked with the catalog later)
        if isinstance(self.seeds, int) and isinstance(base_seed, int) and base_seed + self.seeds - 1 > MAX_SEED:
            raise ValueError(f"base_spec.seed + seeds must stay at most {MAX_SEED}")
        return self


class StudyExtend(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"seeds": 2}]})
    seeds: JsonInt = Field(ge=1, le=MAX_SEEDS, description="How many more seeds per cell, continuing the numbers")


class StudyProgress(BaseModel):
    total: int = 0
    queued: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0


class StudyRun(BaseModel):
    id: int
    name: str
    source: Literal["worker", "script"] = Field(default="worker", description="A worker's run or a script's")
    status: RunStatus
    seed: int | None
    epochs: int | None = Field(description="The run's epoch budget")
    epochs_completed: int
    cancel_requested: bool


class StudyCell(BaseModel):
    label: str = Field(description="'model.norm=batch optimizer=adam'; 'all runs' for a study without a grid")
    cell: dict[str, Any] = Field(description="Grid path -> this cell's value")
    progress: StudyProgress
    runs: list[StudyRun] = Field(description="By seed")


class StudySummary(BaseModel):
    id: int
    name: str
    status: StudyStatus = Field(
        description="From its runs: empty (none left), queued, running, completed (all completed), "
        "finished (all ended, not all completed) or cancelled (all cancelled)"
    )
    grid: dict[str, list[Any]]
    seeds: list[int]
    progress: StudyProgress
    created_at: datetime
    updated_at: datetime


class StudyPublic(StudySummary):
    base_spec: dict[str, Any]
    cells: list[StudyCell] = Field(description="Every cell of the grid, in grid order (the first path varies slowest)")


class StudiesPublic(BaseModel):
    data: list[StudySummary]
    count: int = Field(description="Total number of studies, over all pages")
