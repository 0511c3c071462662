"""JWT/OIDC authentication pieces used by Auth and by the ingress (API.md §2)."""
