"""The prompt registry: definition files loaded and validated once, then looked up per request."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Template, TemplateError, meta
from pydantic import ValidationError

from core.types import Message, ModelTarget, Sampling
from deployments.prompts.errors import (
    NoMatchingFamilyError,
    PromptDefinitionError,
    UnknownPromptError,
)
from deployments.prompts.schema import InvocationParams, ModelParams, PromptDefinition
from deployments.prompts.templates import check_includes, make_environment, render
from deployments.prompts.versions import parse_version, resolve_version

DEFINITIONS_DIR = Path(__file__).resolve().parents[2] / "configs" / "prompts" / "definitions"
# Features whose prompt ids are listed per subfeature in the directory structure (§5.1).
SUBFEATURE_GROUPS = ("chat", "code_suggestions")
BASE_FAMILY = "base"


@dataclass(frozen=True)
class Prompt:
    """One loaded definition: `<prompt_id>/<family>/<version>.yml`, templates compiled."""

    prompt_id: str
    family: str
    version: str
    path: Path
    definition: PromptDefinition
    templates: tuple[tuple[str, tuple[Template, ...]], ...] = field(repr=False)
    variables: frozenset[str] = frozenset()  # names the templates read (not their partials)
    file_sampling: Sampling = field(default_factory=Sampling)  # the file's `model.params`
    stop: tuple[str, ...] = ()  # the file's `params.stop`, each once

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def unit_primitive(self) -> str:
        return self.definition.unit_primitive

    @property
    def params(self) -> InvocationParams:
        return self.definition.params

    @property
    def model_params(self) -> ModelParams:
        return self.definition.model.params

    def sampling(self, target: ModelTarget) -> Sampling:
        """The sampling this prompt asks of a call to `target`: the file's values (API.md
        §5.2) under an operator's pinned ones; the call fills the rest from the model's
        defaults (`core.calls.model_request`)."""
        if target.pinned_sampling:
            return target.sampling.over(self.file_sampling)
        return self.file_sampling

    @property
    def label(self) -> str:
        return f"prompt '{self.prompt_id}' ({self.family}/{self.version})"

    def render(self, variables: Mapping[str, Any]) -> list[Message]:
        """The messages, in the file's role order; a list value gives several messages."""
        messages: list[Message] = []
        for role, templates in self.templates:
            if role == "placeholder":
                messages.extend(self._placeholder(templates[0], variables))
                continue
            for template in templates:
                text = render(template, variables, self.label)
                messages.append(Message(role=role, content=text))  # type: ignore[arg-type]
        return messages

    def _placeholder(self, template: Template, variables: Mapping[str, Any]) -> list[Message]:
        name = render(template, {}, self.label).strip()
        value = variables.get(name)
        if not value:
            return []
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise PromptDefinitionError(f"{self.label}: placeholder {name!r} must be a list")
        return [m if isinstance(m, Message) else Message.model_validate(m) for m in value]


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML loader that refuses a key given twice in one mapping."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _validation_message(path: Path, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown key '{where}'")
        elif err["type"] == "missing":
            problems.append(f"missing key '{where}'")
        else:
            problems.append(f"key '{where}': {err['msg']}")
    return f"{path}: " + "; ".join(problems)


RESOLVED_CACHE_SIZE = 1024


class PromptRegistry:
    """Every prompt under `definitions_dir`, validated at construction (a bad file raises
    `PromptDefinitionError` naming it, so a replica with a broken prompt never starts)."""

    def __init__(self, definitions_dir: Path = DEFINITIONS_DIR) -> None:
        self.definitions_dir = Path(definitions_dir)
        if not self.definitions_dir.is_dir():
            raise PromptDefinitionError(f"{self.definitions_dir}: prompt folder not found")
        self._env = make_environment(self.definitions_dir)
        # prompt_id -> family -> version name -> Prompt
        self._prompts: dict[str, dict[str, dict[str, Prompt]]] = {}
        for path in sorted(self.definitions_dir.rglob("*.yml")):
            self._add(path)
        # (id, constraint, families) -> Prompt: resolving a constraint parses every version
        # name, ~1.4% of a completion's CPU, for an answer fixed once the files are loaded.
        # Clients choose the constraint, so the map is bounded; failures are not kept.
        self._resolved: dict[tuple[str, str | None, tuple[str, ...]], Prompt] = {}

    # -- loading ------------------------------------------------------------------------
    def _add(self, path: Path) -> None:
        parts = path.relative_to(self.definitions_dir).parts
        if len(parts) < 3:
            raise PromptDefinitionError(
                f"{path}: prompt files live at <prompt_id>/<family>/<version>.yml"
            )
        prompt_id, family, version = "/".join(parts[:-2]), parts[-2], path.stem
        try:
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise PromptDefinitionError(f"{path}: invalid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise PromptDefinitionError(f"{path}: expected a mapping at the top level")
        try:
            definition = PromptDefinition.model_validate(raw)
        except ValidationError as exc:
            raise PromptDefinitionError(_validation_message(path, exc)) from None
        versions = self._prompts.setdefault(prompt_id, {}).setdefault(family, {})
        parsed = parse_version(version)
        for other in versions:
            if parsed is not None and parse_version(other) == parsed:
                raise PromptDefinitionError(
                    f"{path}: version {version} duplicates {other}.yml in the same folder"
                )
        versions[version] = self._compile(path, prompt_id, family, version, definition)

    def _compile(
        self, path: Path, prompt_id: str, family: str, version: str, definition: PromptDefinition
    ) -> Prompt:
        compiled: list[tuple[str, tuple[Template, ...]]] = []
        variables: set[str] = set()
        seen: set[str] = set()
        for role, value in definition.prompt_template.items():
            sources = [value] if isinstance(value, str) else list(value)
            templates = []
            for index, source in enumerate(sources):
                where = f"prompt_template.{role}" + (f"[{index}]" if len(sources) > 1 else "")
                try:
                    ast = self._env.parse(source)
                    templates.append(self._env.from_string(source))
                except TemplateError as exc:
                    raise PromptDefinitionError(f"{path}: {where}: invalid Jinja: {exc}") from None
                variables |= meta.find_undeclared_variables(ast)
                check_includes(self._env, ast, f"{path}: {where}", seen)
            compiled.append((role, tuple(templates)))
        return Prompt(
            prompt_id=prompt_id,
            family=family,
            version=version,
            path=path,
            definition=definition,
            templates=tuple(compiled),
            variables=frozenset(variables),
            file_sampling=Sampling(
                max_tokens=definition.model.params.max_tokens,
                temperature=definition.model.params.temperature,
                top_p=definition.model.params.top_p,
                top_k=definition.model.params.top_k,
            ),
            stop=tuple(dict.fromkeys(definition.params.stop)),
        )

    # -- lookup -------------------------------------------------------------------------
    def prompt_ids(self) -> list[str]:
        return sorted(self._prompts)

    def families(self, prompt_id: str) -> list[str]:
        return sorted(self._folders(prompt_id))

    def versions(self, prompt_id: str, family: str) -> list[str]:
        return sorted(self._folders(prompt_id).get(family, {}))

    def _folders(self, prompt_id: str) -> dict[str, dict[str, Prompt]]:
        try:
            return self._prompts[prompt_id]
        except KeyError:
            raise UnknownPromptError(prompt_id) from None

    def select_family(self, prompt_id: str, families: Iterable[str] = ()) -> str:
        """The first of `families` that has a folder for the prompt, else `base` (§5.4)."""
        folders = self._folders(prompt_id)
        wanted = [*families, BASE_FAMILY]
        for family in wanted:
            if family in folders:
                return family
        raise NoMatchingFamilyError(
            f"Prompt '{prompt_id}' has no definition for model families {wanted}"
        )

    def get(
        self, prompt_id: str, version: str | None = None, families: Iterable[str] = ()
    ) -> Prompt:
        """The prompt for the first matching family, at the highest version `version` allows.

        `version` is a Poetry constraint (default `^1.0.0`). Raises `UnknownPromptError`,
        `NoMatchingFamilyError`, `NoMatchingVersionError` or `BadVersionConstraintError`.
        """
        key = (prompt_id, version, tuple(families))
        prompt = self._resolved.get(key)
        if prompt is not None:
            return prompt
        family = self.select_family(prompt_id, key[2])
        versions = self._prompts[prompt_id][family]
        prompt = versions[resolve_version(versions, version, f"{prompt_id}/{family}")]
        if len(self._resolved) >= RESOLVED_CACHE_SIZE:
            self._resolved.clear()
        self._resolved[key] = prompt
        return prompt

    def directory_structure(self) -> dict[str, Any]:
        """The published prompt directory structure (§5.1): `{feature: {subfeature: {family:
        [versions]}}}` for `chat` and `code_suggestions`, `{feature: {family: [versions]}}`
        for all others; versions are the sorted `.yml` stems.

        A slashed id outside those two (`model_configuration/check`) fits neither shape: the
        upstream builder reads `check` as a family with no versions and drops the prompt. We
        keep it in the two-level shape, keyed by the whole id (`{"model_configuration/check":
        {"base": [...]}}`), so every such value is still a family -> versions map and the key
        is the id a client posts to `/v2/prompts/{id}`. Likewise a chat/code_suggestions id
        with more segments has the rest of the id as its subfeature.
        """
        tree: dict[str, Any] = {}
        for prompt_id, families in sorted(self._prompts.items()):
            feature, _, subfeature = prompt_id.partition("/")
            if feature in SUBFEATURE_GROUPS and subfeature:
                node = tree.setdefault(feature, {}).setdefault(subfeature, {})
            else:
                node = tree.setdefault(prompt_id, {})
            for family, versions in sorted(families.items()):
                node[family] = sorted(versions)
        return tree


def prompt_directory_structure(definitions_dir: Path = DEFINITIONS_DIR) -> dict[str, Any]:
    """The published `prompt_directory_structure.json` of the definitions folder (§5.1)."""
    return PromptRegistry(definitions_dir).directory_structure()
