"""Code suggestions API v2 (API.md §1.3): `/v2/completions`, `/v2/code/completions`,
`/v2/code/generations`."""
