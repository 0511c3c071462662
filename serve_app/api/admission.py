"""Admission as a step of each model-calling route (issue 16): who is asking (verified
claims and the contract's headers, never the body), which rules apply, the `RateLimit`
headers of the answer, and the rule in the access log."""

from __future__ import annotations

from fastapi import Request

from core.errors import AdmissionRefusal
from core.types import ModelRequest
from routing.admission import NO_LIMITS, Subject, Ticket
from routing.admission.priority import Priorities
from routing.resilience import route
from serve_app.api.context import gateway_of, identity_of, record_of
from serve_app.api.middleware import RATE_LIMIT_HEADERS_STATE as HEADERS_STATE


async def admit(
    request: Request, feature: str, call: ModelRequest, input_tokens: int = 0
) -> tuple[Ticket, ModelRequest]:
    """The request's ticket and its model call, `max_tokens` set to what was reserved (or
    lowered by a `shrink` rule). `input_tokens`: the assembler's count, when it made one."""
    gateway = gateway_of(request)
    admission, gates = gateway.admission, gateway.admission.priorities
    if not admission.rules and not (gates.gated and _guarded(gates, call)):
        return NO_LIMITS, call
    identity = identity_of(request)
    record = record_of(request)
    headers = request.headers
    bypass = identity.bypass  # a debug user has no claims: its headers stand in for them
    target = call.target
    subject = Subject(
        feature=feature,
        unit_primitive=record.unit_primitive if record is not None else "",
        model=(target.name, target.identifier),
        realm=identity.realm or (headers.get("x-gitlab-realm", "") if bypass else ""),
        user=identity.global_user_id,
        instance=identity.instance_id
        or (headers.get("x-gitlab-instance-id", "") if bypass else ""),
    )
    state = request.scope.setdefault("state", {})
    try:
        ticket = await gateway.admit(subject, call, input_tokens)
    except AdmissionRefusal as exc:
        state[HEADERS_STATE] = exc.headers
        if record is not None:
            record.fields["rate_limit_rule"] = exc.rule
        raise
    state[HEADERS_STATE] = ticket.headers
    if ticket.max_tokens != call.max_tokens:
        call = call.model_copy(update={"max_tokens": ticket.max_tokens})
    return ticket, call


def _guarded(gates: Priorities, call: ModelRequest) -> bool:
    """Whether a gate guards the call's backend or a fallback's (whose slot is taken when
    the request gets there)."""
    if gates.gate(call.target.backend) is not None:
        return True
    current = route.current()
    return current is not None and gates.guards(current.candidates)
