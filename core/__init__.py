"""The bottom layer: settings models, typed messages between graph nodes, error types.

Every other package may import it; it imports none of them (tests/unit/test_layers.py)."""
