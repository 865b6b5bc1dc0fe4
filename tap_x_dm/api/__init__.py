"""Talking to X: the base REST stream, its retries, rate limits, costs and field names."""
