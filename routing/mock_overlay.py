"""Mock mode (`AIGW_MOCK_MODEL_RESPONSES`, API.md §4) as an overlay on the catalogue.

The catalogue keeps every model and feature setting, so a choice is checked as it always is
(the contract's 422 texts still apply); every choice that passes is then answered by the
overlay's stand-in, the echo mock, whichever model or backend it named. The stand-in answers
each call as the model class the call uses (`core.mock_models.answering`), and it carries what
registry prompts get instead of the echo: the fixed `mock`, or the agentic mock's scripted
turns with `AIGW_USE_AGENTIC_MOCK` (§4.3).
"""

from __future__ import annotations

from core.mock_models import MOCK_TEXT
from core.types import MockMode
from routing.catalogue import Catalogue


def with_mock_overlay(
    catalogue: Catalogue, *, agentic: bool = False, use_last_human_message: bool = True
) -> Catalogue:
    mock = MockMode(
        prompts="agentic" if agentic else "fake", use_last_human_message=use_last_human_message
    )
    return catalogue.model_copy(update={"stand_in": MOCK_TEXT.model_copy(update={"mock": mock})})
