"""Ray Serve deployments: each a plain class that Ray wraps at build time (DESIGN.md rule 1)."""
