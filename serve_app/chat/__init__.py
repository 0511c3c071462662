"""Duo Chat and the prompts API: the flows between the HTTP routes and the Gateway."""
