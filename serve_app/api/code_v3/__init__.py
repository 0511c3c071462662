"""Code suggestions API v3: `/v3/code/completions` and `/v4/code/suggestions` (API.md §1.4)."""
