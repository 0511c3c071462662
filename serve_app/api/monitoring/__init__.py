"""Liveness, readiness and the model catalogue (API.md §1.1, §1.10)."""
