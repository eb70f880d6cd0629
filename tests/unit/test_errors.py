"""errors.py's drawing is the tree: every class drawn where it is, and nothing else."""

from __future__ import annotations

import re

import playlog.errors as errors


def _drawn_tree() -> dict[str, str]:
    """Class name -> its parent, read from the module docstring's drawing."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"[ │├└─]*([A-Z]\w+)", line)
        if not match or not line.startswith("    "):
            continue
        depth, name = match.start(1), match.group(1)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((depth, name))
    return parents


def test_every_exported_error_is_drawn_under_its_parent() -> None:
    drawn = _drawn_tree()
    actual = {
        name: getattr(errors, name).__mro__[1].__name__
        for name in errors.__all__
        if name != "PlaylogError"
    }
    assert drawn == actual


def test_every_error_class_is_exported() -> None:
    classes = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.PlaylogError)
    }
    assert classes == set(errors.__all__)


def test_retry_is_a_property_of_the_type() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert not (
            issubclass(cls, errors.TransientError) and issubclass(cls, errors.TerminalError)
        )
    assert issubclass(errors.StoreUnavailable, errors.TransientError)
    assert issubclass(errors.CatalogUnavailable, errors.TransientError)
    assert not issubclass(errors.ObjectMissing, errors.ClientError)
