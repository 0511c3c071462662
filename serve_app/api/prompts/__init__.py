"""Registry prompts (API.md §1.7, §5.1): `/v1|v2/prompts/{prompt_id}` and
`/prompt_directory_structure`."""
