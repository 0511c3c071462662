"""aigw-serve: a GitLab-compatible AI gateway served from a Ray Serve deployment graph."""
