"""Job state and batch runs: the job store (records.py), the job executor (runner.py), backfills (backfill.py)."""
