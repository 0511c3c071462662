"""Admission control (issue 16): rules as data, shared windows leased to replicas, token
reservations settled at real usage. Plain classes; the Ray actor that holds the shared
counters is a thin shell in `serve_app/admission_store.py`."""

from routing.admission.controller import NO_LIMITS, Admission, Ticket
from routing.admission.leases import InProcessStore, StoreClient, StoreUnavailable
from routing.admission.rules import LimitRule, Subject
from routing.admission.store import CounterStore

__all__ = [
    "NO_LIMITS",
    "Admission",
    "CounterStore",
    "InProcessStore",
    "LimitRule",
    "StoreClient",
    "StoreUnavailable",
    "Subject",
    "Ticket",
]
