"""Sandboxed Jinja2 for prompt templates (API.md §5.2).

Templates run in Jinja's immutable sandbox (no attribute escapes such as `__class__`, no
mutation of the values passed in) with a loader rooted at `definitions/`, so
`{% include 'code_suggestions/generations/partials/system/1.0.0.jinja' %}` works and nothing
outside that folder can be read. Filters: `split` (str.split) and `parse_json` (json.loads).

A variable used only in a test (`{% if related_files %}`) may be absent; printing or iterating
over an absent one is a `MissingVariableError` (the upstream gateway answers a KeyError, 422).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, TemplateError, TemplateNotFound, Undefined, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from deployments.prompts.errors import (
    MissingVariableError,
    PromptDefinitionError,
    PromptRenderError,
)


class MissingUndefined(Undefined):
    """Falsy and testable with `is defined`, but printing or iterating it fails."""

    __slots__ = ()
    __str__ = Undefined._fail_with_undefined_error
    __iter__ = Undefined._fail_with_undefined_error
    __len__ = Undefined._fail_with_undefined_error


def _split(value: str, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    return str(value).split(sep, maxsplit)


def _parse_json(value: str | bytes) -> Any:
    return json.loads(value)


def make_environment(definitions_dir: Path) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(definitions_dir)),
        undefined=MissingUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        auto_reload=False,
    )
    env.filters["split"] = _split
    env.filters["parse_json"] = _parse_json
    return env


def check_includes(
    env: ImmutableSandboxedEnvironment, ast: nodes.Template, origin: str, seen: set[str]
) -> None:
    """Every literal `{% include %}`/`{% import %}` must name an existing, valid partial."""
    for name in meta.find_referenced_templates(ast):
        if name is None:  # a computed name: can only be checked when rendered
            continue
        if name in seen:
            continue
        seen.add(name)
        try:
            source, filename, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
        except TemplateNotFound:
            raise PromptDefinitionError(
                f"{origin}: includes {name!r}, which does not exist under definitions/"
            ) from None
        try:
            partial = env.parse(source, name, filename)
        except TemplateError as exc:
            raise PromptDefinitionError(f"{filename}: invalid Jinja: {exc}") from None
        check_includes(env, partial, filename or name, seen)


def render(template: Any, variables: Mapping[str, Any], what: str) -> str:
    """Render a compiled template; map Jinja's failures to the registry's error types."""
    try:
        text: str = template.render(**variables)
    except UndefinedError as exc:
        name = _undefined_name(str(exc))
        raise MissingVariableError(
            f"{what}: missing variable {name!r}" if name else f"{what}: {exc}", name
        ) from None
    except SecurityError as exc:
        raise PromptRenderError(f"{what}: refused by the template sandbox: {exc}") from None
    except TemplateNotFound as exc:
        raise PromptRenderError(f"{what}: template {exc.name!r} not found") from None
    except (TemplateError, ValueError, TypeError) as exc:
        raise PromptRenderError(f"{what}: {type(exc).__name__}: {exc}") from None
    return text


def _undefined_name(message: str) -> str:
    # Jinja says "'name' is undefined" (or "... has no attribute 'x'").
    if message.endswith(" is undefined") and message.startswith("'"):
        return message[1 : message.index("'", 1)]
    return ""
