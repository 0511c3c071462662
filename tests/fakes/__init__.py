"""Local servers that speak real wire protocols, for tests."""
