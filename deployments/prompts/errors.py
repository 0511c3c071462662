"""Prompt-registry errors.

Request-time errors are `GatewayError`s, so the ingress maps them once to the contract's
`{"detail": ...}` bodies (an unknown prompt is a 404, an unusable version constraint a 400, a
variable the template needs but the request lacks a 422). A broken definition file raises
`PromptDefinitionError` while the registry loads, which fails replica start-up.
"""

from __future__ import annotations

from core.errors import BadRequestError, NotFoundError, UnprocessableError


class PromptDefinitionError(ValueError):
    """A prompt file or partial is invalid; raised at load time, naming the file."""


class UnknownPromptError(NotFoundError):
    """No definition folder exists for the prompt id."""

    def __init__(self, prompt_id: str = "") -> None:
        super().__init__(f"Prompt '{prompt_id}' not found")
        self.prompt_id = prompt_id

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.prompt_id,))


class PromptVersionError(BadRequestError):
    """Base of the errors about a `prompt_version` constraint."""


class NoMatchingVersionError(PromptVersionError):
    """The constraint is valid but no version file satisfies it."""


class BadVersionConstraintError(PromptVersionError):
    """The constraint is not a Poetry constraint and matches no version name exactly."""


class MissingVariableError(UnprocessableError):
    """The template printed a variable the caller did not supply."""

    def __init__(self, message: str = "", variable: str = "") -> None:
        super().__init__(message)
        self.variable = variable

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.message, self.variable))


class PromptRenderError(UnprocessableError):
    """The template could not be rendered (a sandbox refusal, a bad filter argument...)."""


class NoMatchingFamilyError(NotFoundError):
    """The prompt exists, but neither for the model's families nor for `base`."""
