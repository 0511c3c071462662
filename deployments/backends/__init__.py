"""Backend deployments: one per provider / model; each takes a ModelRequest."""
