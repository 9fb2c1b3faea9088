"""Benchmarks of trainboard, each runnable as `python -m bench.NAME`. Those described in
docs/benchmarks.md:

- `bench.ingestion`: metric points per second through POST /runs/{id}/metrics (SQLite, Postgres),
  next to the raw insert rate of the same rows;
- `bench.live_latency`: from a metric POST to its Server-Sent Event at a client;
- `bench.launch_latency`: from POST /runs to the worker's claim of the run (Redis, embedded broker).

They start what they need (an API in its own process, a worker, a throwaway Postgres database)
and stop it again, also on error or Ctrl-C. They print their figures; nothing is written.
"""
