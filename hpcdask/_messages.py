"""Turn pydantic's validation errors into one plain line per problem."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from hpcdask._model import UnknownKey, display_key

__all__ = ["error_lines"]

_TEMPLATES = {
    "missing": "required key is missing",
    "int_parsing": "expected a whole number, got {input}",
    "int_type": "expected a whole number, got {input}",
    "int_from_float": "expected a whole number, got {input}",
    "float_parsing": "expected a number, got {input}",
    "float_type": "expected a number, got {input}",
    "string_type": "expected text, got {input}",
    "bool_parsing": "expected true or false, got {input}",
    "bool_type": "expected true or false, got {input}",
    "list_type": "expected a list, got {input}",
    "tuple_type": "expected a list, got {input}",
    "dict_type": "expected a mapping of keys, got {input}",
    "model_type": "expected a mapping of keys, got {input}",
    "model_attributes_type": "expected a mapping of keys, got {input}",
    "greater_than": "must be more than {gt}, got {input}",
    "greater_than_equal": "must be at least {ge}, got {input}",
    "less_than": "must be less than {lt}, got {input}",
    "less_than_equal": "must be at most {le}, got {input}",
    "literal_error": "expected one of {expected}, got {input}",
    "too_short": "must not be empty",
}


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _path(error: ErrorDetails) -> tuple[str, str]:
    """Return the key path as shown to users and as used to look up where a value came from."""
    parts: list[str | int] = list(error["loc"])
    key = (error.get("ctx") or {}).get("key")
    if key is not None:
        parts.append(str(key))
    shown, lookup = "", []
    for part in parts:
        if isinstance(part, int):
            shown += f"[{part}]"
            continue
        shown += ("." if shown else "") + display_key(part)
        lookup.append(part.replace("-", "_"))
    return shown, ".".join(lookup)


def _message(error: ErrorDetails) -> str:
    ctx = dict(error.get("ctx") or {})
    if error["type"] == "extra_forbidden":
        hint = error.get("input")
        return "unknown key" + (hint.hint if isinstance(hint, UnknownKey) else "")
    template = _TEMPLATES.get(error["type"])
    if template is None:
        message = error["msg"]
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    ctx.setdefault("input", error.get("input"))
    if error["type"] == "string_type" and isinstance(ctx["input"], bool):
        template += " (YAML reads yes/no/on/off as true/false: quote the value)"
    values = {k: _shown(v) if k == "input" else _number(v) for k, v in ctx.items()}
    return template.format(**values)


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def error_lines(exc: ValidationError, name: str, origin_of: Any) -> list[str]:
    """Return ``file: resource 'name': key: message`` for each error in ``exc``.

    ``origin_of`` maps a dotted key path to the file that set it.
    """
    lines = []
    for error in exc.errors(include_url=False):
        shown, lookup = _path(error)
        where = f"{origin_of(lookup)}: resource '{name}'"
        text = _message(error)
        lines.append(f"{where}: {shown}: {text}" if shown else f"{where}: {text}")
    return lines
