"""What the API takes from a worker or a script, shared by the API's schemas and the Python client
(which refuses at once what the API would refuse later). Standard library only."""

MAX_POINTS_PER_BATCH = 10_000  # metric points in one POST /runs/{id}/metrics
METRIC_NAME_PATTERN = r"^[A-Za-z0-9_.\-/]{1,100}$"  # train_loss, val/acc, lr.group-0
MAX_STEP = 2**31 - 1
MAX_ARTIFACT_BYTES = 50 * 2**20  # one artifact upload
MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH = 64 * 1024, 20  # a script run's config, as JSON
MAX_ENVIRONMENT_BYTES = 16 * 1024  # a run's environment (versions, host...), as JSON

# The error of a script run the recovery sweep gave up for lost begins so; its script's next
# heartbeat revives it, and `trainboard sync` ends a folder without an end with it.
SCRIPT_LOST = "the script stopped reporting"
