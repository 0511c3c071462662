"""Metrics, per-stage timing, structured logs and internal events (API.md §8, issue 8)."""
