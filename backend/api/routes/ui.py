"""What the browser dashboard needs beyond the REST resources: plotly.js (its basic bundle, vendored
in frontend/vendor) and Swagger UI (from the installed `fastapi-offline`), never from a CDN, so the
dashboard works offline; and the self-contained HTML report of a comparison, a file to download
that opens anywhere without the server."""

from __future__ import annotations

import gzip
import hashlib
import re
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field

from backend.api.deps import GroupBy, ReadAuth, SelectedGroup, SelectedRunIds, SessionDep
from backend.api.errors import errors
from backend.api.routes.compare import comparison_data
from backend.crud import runs as runs_crud
from backend.schemas.compare import Comparison
from backend.schemas.stats import StatsOptions, StatsPublic
from backend.services import study_stats
from backend.services.reports import PLOTLY_BUNDLE, build_report

# Mounted at the root, next to the static frontend.
assets = APIRouter(tags=["ui"], include_in_schema=False)
# Mounted under the API prefix.
router = APIRouter(prefix="/compare", tags=["compare"])

RunId = Annotated[int, Field(ge=1, le=2**63 - 1)]  # what the database can hold
# Points of each curve in the report (fewer when many curves share the chart budget, as on the
# Compare page): a chart a page wide shows no more, and a run of millions of points stays a small file.
REPORT_POINTS = 2000


# Served from installed packages, never a CDN: the dashboard and /docs work offline, and no
# third-party script runs in the origin where the dashboard keeps its token.
VENDOR_FILES = {
    "plotly-basic.min.js": (*PLOTLY_BUNDLE, "text/javascript"),  # see frontend/vendor/README.md
    "swagger-ui-bundle.js": ("fastapi_offline", "static/swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": ("fastapi_offline", "static/swagger-ui.css", "text/css"),
    "swagger-favicon.png": ("fastapi_offline", "static/favicon.png", "image/png"),
}


@lru_cache(maxsize=len(VENDOR_FILES))
def _vendor_file(name: str) -> tuple[bytes, bytes, str]:
    """A vendored file as its package ships it, gzipped once, and its ETag."""
    package, path, _ = VENDOR_FILES[name]
    raw = resources.files(package).joinpath(path).read_bytes()
    return raw, gzip.compress(raw, compresslevel=6, mtime=0), '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


@assets.get("/vendor/{name}")
def vendor_file(name: str, request: Request) -> Response:
    if name not in VENDOR_FILES:
        return Response(status_code=404)
    raw, packed, etag = _vendor_file(name)
    media_type = VENDOR_FILES[name][2]
    headers = {"ETag": etag, "Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", "") and not media_type.startswith("image/"):
        return Response(packed, media_type=media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(raw, media_type=media_type, headers=headers)


def _file_stem(group: str | None, run_ids: list[int] | None) -> str:
    what = group if group is not None else "runs-" + "-".join(map(str, (run_ids or [])[:6]))
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", what).strip("-.")[:80] or "comparison"
    return f"trainboard-{stem}"


@router.get("/report", dependencies=[ReadAuth], response_class=Response, responses=errors(404))
def comparison_report(
    session: SessionDep,
    run_id: SelectedRunIds = None,
    group: SelectedGroup = None,
    metric: Annotated[str | None, Query(max_length=100, description="Metric of the main chart")] = None,
    x: Annotated[Literal["epoch", "time"], Query(description="Epochs, or seconds since each run started")] = "epoch",
    group_by: GroupBy = (),
    band: Annotated[Literal["std", "ci", "none"], Query(description="Band around group means")] = "std",
) -> Response:
    """The comparison as one HTML file, with plotly.js, the charts' data, the summary table and
    every run's spec inlined: it opens offline. Sent as a download."""
    comparison = Comparison.model_validate(
        comparison_data(session, run_id=run_id, group=group, metric=None, group_by=group_by, max_points=REPORT_POINTS)
    )  # every metric's curves at a chart's resolution; the tables' values come from the runs' summaries
    generated = datetime.now(timezone.utc)
    stats = _group_stats(session, [run.id for run in comparison.runs], metric, group_by)
    document = build_report(
        comparison,
        metric=metric,
        x_axis=x,
        band=band,
        group=group,
        generated_at=generated,
        stats=stats,
    )
    filename = f"{_file_stem(group, run_id)}-{generated:%Y%m%d-%H%M}.html"
    return Response(
        document,
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _group_stats(session, run_ids: list[int], metric: str | None, group_by: tuple[str, ...]) -> StatsPublic | None:
    """The statistics table of the grouped runs (as GET /stats), or None when the view does not
    group them or the table cannot be made (a metric without a direction, such as lr)."""
    if not group_by or not run_ids:
        return None
    found = {run.id: run for run in runs_crud.get_runs(session=session, run_ids=run_ids)}
    options = StatsOptions(metric=metric, group_by=group_by)
    try:
        return study_stats.runs_stats(session=session, runs=[found[i] for i in run_ids if i in found], options=options)
    except study_stats.StatsRefused:
        return None
