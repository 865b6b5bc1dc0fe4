"""One run's edges: the per-account lock, the target's pipe, log lines and the run summary."""
