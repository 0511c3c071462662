"""Resilient model routing (issue 15): the policy, the retry and deadline rules, circuit
breakers, the attempt loop and the route record. Plain classes; Ray only in `shared.py`."""
