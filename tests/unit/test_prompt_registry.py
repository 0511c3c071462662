"""The prompt registry: loading, strict schema, versions, families, sandboxed rendering."""

from __future__ import annotations

import pickle
import textwrap
from pathlib import Path

import pytest

from core.types import Message
from deployments.prompts import (
    BadVersionConstraintError,
    MissingVariableError,
    NoMatchingFamilyError,
    NoMatchingVersionError,
    PromptDefinitionError,
    PromptRegistry,
    PromptRenderError,
    UnknownPromptError,
    prompt_directory_structure,
    resolve_version,
)

MINIMAL = """\
name: {name}
unit_primitive: generate_code
prompt_template:
  system: You write {{{{ language }}}}.
  user: "{{{{ prefix }}}}"
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def defs(tmp_path: Path) -> Path:
    for version in ("1.0.0", "1.0.1", "1.1.0-dev", "1.2.0", "2.0.0", "2.1.0-rc1", "2.0.0-orbit"):
        write(tmp_path, f"code/gen/base/{version}.yml", MINIMAL.format(name=f"base {version}"))
    write(tmp_path, "code/gen/mistral/1.0.0.yml", MINIMAL.format(name="mistral 1.0.0"))
    write(tmp_path, "chat/explain/claude/1.0.0.yml", MINIMAL.format(name="claude explain"))
    return tmp_path


# -- version resolution --------------------------------------------------------------------
VERSIONS = ["1.0.0", "1.0.1", "1.1.0-dev", "1.2.0", "2.0.0", "2.1.0-rc1", "2.0.0-orbit"]


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("^1.0.0", "1.2.0"),  # caret: highest stable below 2
        (None, "1.2.0"),  # default ^1.0.0
        ("", "1.2.0"),
        ("~1.0", "1.0.1"),  # tilde: patch updates only
        ("~1.0.0", "1.0.1"),
        (">=1.0,<1.2", "1.0.1"),  # range skips 1.1.0-dev
        (">=1.0.0", "2.0.0"),  # open range: still stable only, so not 2.1.0-rc1
        ("1.0.0 || 1.0.1", "1.0.1"),
        ("1.0.0", "1.0.0"),  # exact
        ("1.1.0-dev", "1.1.0-dev"),  # a pre-release is served when asked for exactly
        ("==2.1.0-rc1", "2.1.0-rc1"),
        ("2.0.0-orbit", "2.0.0-orbit"),  # not PEP 440: exact file-name match
    ],
)
def test_resolve_version(constraint: str | None, expected: str) -> None:
    assert resolve_version(VERSIONS, constraint) == expected


@pytest.mark.parametrize("constraint", ["^3.0.0", "1.3.0", ">=1.1.0,<1.2.0", "~2.1"])
def test_no_matching_version(constraint: str) -> None:
    with pytest.raises(NoMatchingVersionError) as err:
        resolve_version(VERSIONS, constraint, "code/gen/base")
    assert err.value.status_code == 400
    assert constraint in err.value.message and "code/gen/base" in err.value.message
    assert "1.2.0" in err.value.message  # the available versions are listed


def test_bad_constraint_without_exact_match() -> None:
    with pytest.raises(BadVersionConstraintError) as err:
        resolve_version(VERSIONS, "latest-please")
    assert err.value.status_code == 400
    assert "latest-please" in err.value.message


def test_prerelease_only_folder_needs_an_exact_version() -> None:
    with pytest.raises(NoMatchingVersionError):
        resolve_version(["1.0.0-dev"], "^1.0.0")
    assert resolve_version(["1.0.0-dev"], "1.0.0-dev") == "1.0.0-dev"


# -- families ------------------------------------------------------------------------------
def test_family_fallback_to_base(defs: Path) -> None:
    registry = PromptRegistry(defs)
    assert registry.get("code/gen", families=("mistral",)).name == "mistral 1.0.0"
    assert registry.get("code/gen", families=("codestral", "mistral")).family == "mistral"
    fallback = registry.get("code/gen", families=("smollm2",))
    assert (fallback.family, fallback.version) == ("base", "1.2.0")
    assert registry.get("code/gen").family == "base"


def test_family_folder_wins_even_if_version_does_not_match(defs: Path) -> None:
    # First existing folder wins (§5.4); a version missing there is an error, not a fallback.
    with pytest.raises(NoMatchingVersionError):
        PromptRegistry(defs).get("code/gen", "^2.0.0", families=("mistral",))


def test_a_resolved_version_is_remembered_and_a_failure_is_not(
    defs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import deployments.prompts.registry as registry_module

    calls: list[str | None] = []
    real = registry_module.resolve_version

    def counted(available, constraint, what=""):  # type: ignore[no-untyped-def]
        calls.append(constraint)
        return real(available, constraint, what)

    monkeypatch.setattr(registry_module, "resolve_version", counted)
    registry = PromptRegistry(defs)
    for _ in range(3):
        assert registry.get("code/gen", "^1.0.0", iter(["smollm2"])).version == "1.2.0"
    assert calls == ["^1.0.0"]  # the families may come as a one-shot iterator
    for _ in range(2):
        with pytest.raises(NoMatchingVersionError):
            registry.get("code/gen", "^3.0.0")
    assert calls == ["^1.0.0", "^3.0.0", "^3.0.0"]
    # Clients choose constraints: the map stays bounded however many distinct ones arrive.
    for n in range(registry_module.RESOLVED_CACHE_SIZE + 10):
        registry.get("code/gen", f">=1.0.0,<1.2.{n}")
    assert len(registry._resolved) <= registry_module.RESOLVED_CACHE_SIZE


def test_unknown_prompt_and_family(defs: Path) -> None:
    registry = PromptRegistry(defs)
    with pytest.raises(UnknownPromptError) as err:
        registry.get("code/nope")
    assert err.value.status_code == 404 and err.value.message == "Prompt 'code/nope' not found"
    with pytest.raises(NoMatchingFamilyError):
        registry.get("chat/explain", families=("gpt",))  # only claude, no base
    assert registry.get("chat/explain", families=("gpt", "claude")).family == "claude"


def test_errors_survive_pickling_across_handles() -> None:
    for exc in (
        UnknownPromptError("x/y"),
        NoMatchingVersionError("no"),
        MissingVariableError("m", "prefix"),
    ):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and back.message == exc.message


def test_directory_structure(defs: Path) -> None:
    """§5.1: `{feature: {subfeature: {family: [versions]}}}` for chat and code_suggestions,
    `{feature: {family: [versions]}}` for every other prompt id (a slashed one included)."""
    write(defs, "code_suggestions/completions/codestral/1.0.0.yml", MINIMAL.format(name="c"))
    for version in ("1.10.0", "1.2.0", "1.0.0"):
        write(defs, f"generate_commit_message/base/{version}.yml", MINIMAL.format(name="g"))
    tree = prompt_directory_structure(defs)
    assert tree["chat"] == {"explain": {"claude": ["1.0.0"]}}
    assert tree["code_suggestions"] == {"completions": {"codestral": ["1.0.0"]}}
    # single-segment id: family -> the sorted .yml stems
    assert tree["generate_commit_message"] == {"base": ["1.0.0", "1.10.0", "1.2.0"]}
    # a slashed id outside chat/code_suggestions keeps the two-level shape, keyed by the id
    assert tree["code/gen"]["mistral"] == ["1.0.0"]
    assert tree["code/gen"]["base"] == sorted(VERSIONS)
    assert "code" not in tree
    for feature, node in tree.items():  # every leaf is a list of versions, at the right depth
        if feature in ("chat", "code_suggestions"):
            node = {f"{sub}/{fam}": v for sub, fams in node.items() for fam, v in fams.items()}
        assert all(isinstance(versions, list) for versions in node.values()), feature


def test_shipped_definitions_load() -> None:
    registry = PromptRegistry()
    for prompt_id in registry.prompt_ids():
        for family in registry.families(prompt_id):
            assert registry.versions(prompt_id, family)


# -- rendering -----------------------------------------------------------------------------
def test_render_roles_lists_prefill_and_placeholder(tmp_path: Path) -> None:
    write(
        tmp_path,
        "p/base/1.0.0.yml",
        """\
        name: p
        unit_primitive: duo_chat
        prompt_template:
          system:
            - "Static part."
            - "Dynamic: {{ items | split(',') | join(' / ') }}"
          placeholder: history
          user: |
            {{ question }} {{ (payload | parse_json).n }}
          assistant: <new_code>
        params:
          stop: ["</new_code>"]
          timeout: 30
        """,
    )
    prompt = PromptRegistry(tmp_path).get("p")
    history = [{"role": "user", "content": "hi"}, Message(role="assistant", content="hello")]
    messages = prompt.render(
        {"items": "a,b", "question": "why?", "payload": '{"n": 3}', "history": history}
    )
    assert [(m.role, m.content) for m in messages] == [
        ("system", "Static part."),
        ("system", "Dynamic: a / b"),
        ("user", "hi"),
        ("assistant", "hello"),
        ("user", "why? 3"),  # the YAML block's trailing newline is not kept
        ("assistant", "<new_code>"),
    ]
    assert prompt.params.stop == ["</new_code>"] and prompt.params.timeout == 30
    assert prompt.variables == {"items", "question", "payload"}
    # An absent placeholder variable adds no message.
    assert len(prompt.render({"items": "", "question": "q", "payload": '{"n": 1}'})) == 4


def test_include_relative_to_definitions(tmp_path: Path) -> None:
    write(tmp_path, "shared/system/1.0.0.jinja", "You are {{ who }}.{% include 'shared/x.j' %}")
    (tmp_path / "shared" / "x.j").write_text(" Be brief.")
    write(
        tmp_path,
        "p/base/1.0.0.yml",
        """\
        name: p
        unit_primitive: duo_chat
        prompt_template:
          system: "{% include 'shared/system/1.0.0.jinja' %}"
          user: "{{ q }}"
        """,
    )
    messages = PromptRegistry(tmp_path).get("p").render({"who": "helpful", "q": "?"})
    assert messages[0].content == "You are helpful. Be brief."


def test_missing_variable_is_a_422(defs: Path) -> None:
    prompt = PromptRegistry(defs).get("code/gen")
    with pytest.raises(MissingVariableError) as err:
        prompt.render({"language": "Python"})
    assert err.value.status_code == 422 and err.value.variable == "prefix"
    assert "prefix" in err.value.message and "code/gen" in err.value.message


def test_optional_variables_can_be_tested(tmp_path: Path) -> None:
    write(
        tmp_path,
        "p/base/1.0.0.yml",
        """\
        name: p
        unit_primitive: duo_chat
        prompt_template:
          user: "{% if libs %}libs: {{ libs | join(',') }}{% endif %}{{ q | default('none') }}"
        """,
    )
    prompt = PromptRegistry(tmp_path).get("p")
    assert prompt.render({})[0].content == "none"
    assert prompt.render({"libs": ["a", "b"], "q": "!"})[0].content == "libs: a,b!"


@pytest.mark.parametrize(
    "expression",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ q.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{% set _ = items.append(1) %}{{ items }}",  # immutable sandbox: no mutation
    ],
)
def test_sandbox_refuses_escapes(tmp_path: Path, expression: str) -> None:
    write(
        tmp_path,
        "p/base/1.0.0.yml",
        f"""\
        name: p
        unit_primitive: duo_chat
        prompt_template:
          user: "{expression}"
        """,
    )
    prompt = PromptRegistry(tmp_path).get("p")
    items: list[int] = []
    with pytest.raises((PromptRenderError, MissingVariableError)):
        prompt.render({"q": "x", "items": items})
    assert items == []


def test_include_outside_definitions_refused_at_load(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("token")
    defs = tmp_path / "definitions"
    write(
        defs,
        "p/base/1.0.0.yml",
        """\
        name: p
        unit_primitive: duo_chat
        prompt_template:
          user: "{% include '../secret.txt' %}"
        """,
    )
    with pytest.raises(PromptDefinitionError, match=r"1\.0\.0\.yml.*'\.\./secret\.txt'"):
        PromptRegistry(defs)


# -- strict schema: a broken file fails loading, naming file and key ----------------------
@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (MINIMAL.format(name="x") + "temperature: 0.1\n", "unknown key 'temperature'"),
        (
            MINIMAL.format(name="x") + "model:\n  params:\n    max_token: 5\n",
            "unknown key 'model.params.max_token'",
        ),
        (MINIMAL.format(name="x") + "params:\n  stops: [x]\n", "unknown key 'params.stops'"),
        (
            "name: x\nunit_primitives: [generate_code]\nprompt_template: {user: hi}\n",
            "unknown key 'unit_primitives'",
        ),
        ("name: x\nunit_primitive: generate_code\n", "missing key 'prompt_template'"),
        (
            "name: x\nunit_primitive: generate_code\nprompt_template: {human: hi}\n",
            "key 'prompt_template.human",
        ),
        (MINIMAL.format(name="x") + "name: y\n", "duplicate key 'name'"),
        ("name: x\nunit_primitive: generate_code\nprompt_template: {user: '{% if %}'}\n", "Jinja"),
        (
            "name: x\nunit_primitive: generate_code\n"
            "prompt_template: {user: \"{% include 'no/such.jinja' %}\"}\n",
            "'no/such.jinja', which does not exist",
        ),
        ("- a list\n", "expected a mapping"),
    ],
)
def test_broken_file_fails_load_naming_file_and_key(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "code" / "gen" / "base" / "1.0.0.yml"
    path.parent.mkdir(parents=True)
    path.write_text(body)
    with pytest.raises(PromptDefinitionError) as err:
        PromptRegistry(tmp_path)
    assert str(path) in str(err.value)
    assert needle in str(err.value)


def test_duplicate_versions_rejected(tmp_path: Path) -> None:
    write(tmp_path, "p/base/1.0.0.yml", MINIMAL.format(name="a"))
    write(tmp_path, "p/base/1.0.yml", MINIMAL.format(name="b"))
    with pytest.raises(PromptDefinitionError, match="duplicates"):
        PromptRegistry(tmp_path)
