"""Version selection for prompt definitions (API.md §5.3), on Poetry's constraint parser.

Constraints are Poetry constraint strings: exact (`1.0.0`, `==1.1.0-dev`), caret (`^1.0.0`),
tilde (`~1.1`), ranges (`>=1.0,<2.0`) and unions (`1.0.0 || 2.0.0`). A constraint that is not a
single exact version is a range, and a range is only ever served stable versions: `1.1.0-dev`
is chosen only when asked for exactly. A string Poetry cannot parse falls back to an exact
match against the version names (so `2.0.0-orbit.yml` can be selected by its name).
"""

from __future__ import annotations

from collections.abc import Iterable

from poetry.core.constraints.version import Version, parse_constraint
from poetry.core.constraints.version.exceptions import ParseConstraintError

from deployments.prompts.errors import BadVersionConstraintError, NoMatchingVersionError

DEFAULT_CONSTRAINT = "^1.0.0"


def parse_version(name: str) -> Version | None:
    """The PEP 440 version of a file stem, or None when it is not one."""
    try:
        return Version.parse(name)
    except ValueError:
        return None


def resolve_version(available: Iterable[str], constraint: str | None, what: str = "") -> str:
    """The highest name in `available` that `constraint` allows (`^1.0.0` when empty).

    Raises `BadVersionConstraintError` for an unparsable constraint with no exact match and
    `NoMatchingVersionError` when nothing matches. `what` names the prompt in messages.
    """
    names = sorted(set(available))
    query = (constraint or "").strip() or DEFAULT_CONSTRAINT
    subject = f" of prompt '{what}'" if what else ""
    try:
        parsed_constraint = parse_constraint(query)
    except (ParseConstraintError, ValueError):
        if query in names:
            return query
        raise BadVersionConstraintError(
            f"Version '{query}'{subject} is not a valid version constraint and no version "
            f"has that exact name (available: {names})"
        ) from None
    versions = {name: v for name in names if (v := parse_version(name)) is not None}
    exact = isinstance(parsed_constraint, Version)
    allowed = [
        (v, name)
        for name, v in versions.items()
        if (exact or v.is_stable()) and parsed_constraint.allows(v)
    ]
    if not allowed:
        raise NoMatchingVersionError(f"No version{subject} matches '{query}' (available: {names})")
    return max(allowed)[1]
