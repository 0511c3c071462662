"""`make bench`: load tests that print numbers (never timed unit tests)."""
