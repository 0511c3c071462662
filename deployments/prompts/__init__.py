"""The prompt registry (API.md §5): YAML definitions, sandboxed Jinja2, semver and families.

Layout: `configs/prompts/definitions/<prompt_id>/<family>/<version>.yml` (the prompt id may
contain slashes: `code_suggestions/generations`, `chat/explain_code`); shared Jinja partials
live anywhere under `definitions/` and are included by their path from there, e.g.
`{% include 'code_suggestions/generations/partials/system/1.0.0.jinja' %}`.

API (stable; the Duo Chat and `/v1|v2/prompts` work builds on it)::

    from deployments.prompts import PromptRegistry

    registry = PromptRegistry()            # loads + validates every file; raises
                                           # PromptDefinitionError naming file and key
    prompt = registry.get(
        "code_suggestions/generations",
        version="^1.0.0",                  # Poetry constraint; None/"" means ^1.0.0
        families=("smollm2", "mistral"),   # the model's families, tried in order, then base
    )
    prompt.name, prompt.unit_primitive     # from the file
    prompt.family, prompt.version          # what was chosen
    prompt.params.stop, prompt.params.timeout, prompt.model_params.max_tokens
    messages = prompt.render({"prefix": "...", "language": "Python"})  # list[types.Message]

    registry.prompt_ids(), registry.families(pid), registry.versions(pid, family)
    registry.directory_structure()         # §5.1: {feature: {[subfeature:] {family: [versions]}}}
    prompt_directory_structure()           # the same for the shipped definitions

Version selection (`versions.resolve_version`): exact versions, `^`, `~`, ranges and unions;
a range only ever picks stable versions (`1.1.0-dev` only when asked for exactly); a string
that is not a constraint falls back to an exact file-name match.

Family selection (`PromptRegistry.select_family`): the first of the given families that has a
folder for the prompt wins, else `base`.

Rendering: each `prompt_template` role becomes a message (a list value gives several of that
role, in order); `assistant` is a prefill; `placeholder: <var>` splices in the messages held by
that variable (a list of `Message` or `{role, content}` dicts; absent means none). Templates run
in `jinja2.sandbox.ImmutableSandboxedEnvironment` with filters `split` and `parse_json`.

Errors (`deployments.prompts.errors`), all `GatewayError`s mapped once by the ingress:
`UnknownPromptError` (404), `NoMatchingFamilyError` (404), `NoMatchingVersionError` and
`BadVersionConstraintError` (both `PromptVersionError`, 400), `MissingVariableError` (422,
a printed variable was not supplied), `PromptRenderError` (422, e.g. a sandbox refusal).
`PromptDefinitionError` (a `ValueError`) is raised only while loading.
"""

from deployments.prompts.errors import (
    BadVersionConstraintError,
    MissingVariableError,
    NoMatchingFamilyError,
    NoMatchingVersionError,
    PromptDefinitionError,
    PromptRenderError,
    PromptVersionError,
    UnknownPromptError,
)
from deployments.prompts.registry import (
    BASE_FAMILY,
    DEFINITIONS_DIR,
    Prompt,
    PromptRegistry,
    prompt_directory_structure,
)
from deployments.prompts.schema import InvocationParams, ModelParams, PromptDefinition
from deployments.prompts.versions import DEFAULT_CONSTRAINT, resolve_version

__all__ = [
    "BASE_FAMILY",
    "DEFAULT_CONSTRAINT",
    "DEFINITIONS_DIR",
    "BadVersionConstraintError",
    "InvocationParams",
    "MissingVariableError",
    "ModelParams",
    "NoMatchingFamilyError",
    "NoMatchingVersionError",
    "Prompt",
    "PromptDefinition",
    "PromptDefinitionError",
    "PromptRegistry",
    "PromptRenderError",
    "PromptVersionError",
    "UnknownPromptError",
    "prompt_directory_structure",
    "resolve_version",
]
