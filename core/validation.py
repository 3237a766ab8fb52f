"""Every problem of a document at once: pydantic's own errors and a model's checks across fields.

Pydantic reports every bad field, but a model validator runs only once all of its model's fields
are valid, and stops at its first ``raise``: a bad field hides the cross-field problems, and one
cross-field problem hides the next. A model whose checks span fields therefore runs them from a
wrap validator, on its input (``validate_all``), and raises one ``ValidationError`` holding
pydantic's errors and all of its own, each at its own location; pydantic nests them under the
parent's location like any other error (pydantic/pydantic-core#510, #963).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]  # where in the document, and what is wrong there
PROBLEM_TYPE = "custhub_config"


def validate_all(data: Any, handler: Callable[[Any], Any], problems: Iterable[Problem]) -> Any:
    """``handler(data)``, pydantic's own validation, raising its errors and ``problems`` together."""
    found = [_line(loc, message, data) for loc, message in problems]
    try:
        model = handler(data)
    except ValidationError as error:
        if not found:
            raise
        raise _combined([_carried(item) for item in error.errors()] + found) from None
    if found:
        raise _combined(found)
    return model


def describe(error: ValidationError) -> list[tuple[str, str]]:
    """(dotted key, message) of every error, as a person reads them next to the YAML."""
    return [(dotted(loc), message) for loc, message in problems_of(error)]


def problems_of(error: ValidationError, *within: str | int) -> list[Problem]:
    """Every error of ``error`` as a problem, its location put ``within`` an enclosing one."""
    return [((*within, *item["loc"]), _message(item)) for item in error.errors()]


def dotted(loc: Iterable[str | int]) -> str:
    # "[key]" marks an error in a mapping's key rather than its value: the key itself is named.
    return ".".join(str(part) for part in loc if part != "[key]") or "(top level)"


def as_mapping(value: Any) -> Mapping[Any, Any]:
    """A part of raw input that should be a mapping, or nothing (its own error says why)."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """A part of raw input that should be a list, or nothing (its own error says why)."""
    return value if isinstance(value, list) else []


def _message(item: ErrorDetails) -> str:
    return item["msg"].removeprefix("Value error, ")


def _line(loc: Loc, message: str, data: Any) -> InitErrorDetails:
    # A custom error without context keeps its text as written: braces in it are not a template.
    return InitErrorDetails(type=PydanticCustomError(PROBLEM_TYPE, message), loc=loc, input=data)


def _carried(item: ErrorDetails) -> InitErrorDetails:
    """One of pydantic's errors, carried into the combined error with its text unchanged."""
    return InitErrorDetails(type=PydanticCustomError(item["type"], _message(item)), loc=item["loc"],
                            input=item.get("input"))


def _combined(lines: list[InitErrorDetails]) -> ValidationError:
    return ValidationError.from_exception_data("configuration", lines)
