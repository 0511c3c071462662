"""`/v1/search/gitlab-docs` (API.md §1.8)."""
