"""Duo Chat: the ReAct step's output parser and the agent's event types."""
