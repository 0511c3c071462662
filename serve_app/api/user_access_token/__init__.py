"""`/v1/code/user_access_token` (API.md §1.5)."""
