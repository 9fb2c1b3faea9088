from pydantic import BaseModel, Field

from backend.schemas.run import RunPublic


class Series(BaseModel):
    """One metric of one run, as columns: steps[i] has values[i], measured at wall_times[i]."""

    steps: list[int]
    values: list[float | None]
    wall_times: list[float]


class Comparison(BaseModel):
    runs: list[RunPublic]
    series: dict[int, dict[str, Series]] = Field(description="run id -> metric name -> series")
