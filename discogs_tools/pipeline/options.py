"""A pipeline stage's arguments and options, checked and converted for its step function.

A step function (:mod:`.steps`) takes the workspace, then the command's arguments as positional
parameters, then the command's options as keyword-only parameters named after the long option
(``--crop-s`` -> ``crop_s``), typed and defaulted as the command line types and defaults them.
Its signature is therefore the whole contract: this module applies the command line's rules to
the TOML values (an unknown option, a value of the wrong kind, ``true``/``false`` for an option
that takes a value, a list for an option taken once, a missing required option or argument) and
reports a breach in one line naming the stage and the option. Values substituted from variables
arrive as text (``epochs = "{epochs}"``) and are converted as the command line converts them.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        kinds = [h for h in typing.get_args(hint) if h is not type(None)]
        return kinds[0] if len(kinds) == 1 else hint
    return hint


def is_multiple(hint: Any) -> bool:
    """Whether a parameter of this type takes several values (a repeatable option, a variadic argument)."""
    return typing.get_origin(_unwrap_optional(hint)) in (list, tuple)


def is_flag(hint: Any) -> bool:
    """Whether a parameter of this type is a flag (``true``/``false``; ``--x``/``--no-x`` on the command line)."""
    return _unwrap_optional(hint) is bool


def convert(value: Any, hint: Any, what: str) -> Any:
    """``value`` (from TOML, or text from a variable) as the type ``hint``; ConfigError naming ``what``."""
    hint = _unwrap_optional(hint)
    if is_multiple(hint):
        (inner, *_rest) = typing.get_args(hint) or (str,)
        values = value if isinstance(value, list) else [value]
        return [convert(v, inner, what) for v in values]
    if isinstance(value, list):
        if len(value) != 1:
            raise ConfigError(f"{what} takes one value, not a list of {len(value)}")
        value = value[0]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{what} is a flag: give true or false, not {value!r}")
    if isinstance(value, bool):
        raise ConfigError(f"{what} takes a value, not {str(value).lower()} (it is not a flag)")
    try:
        if hint is int:
            if isinstance(value, float):  # the command line refuses `--epochs 2.0` too
                raise ValueError
            return int(value) if not isinstance(value, str) else int(value.strip())
        if hint is float:
            return float(value)
        if hint is Path:
            return Path(str(value))
    except ValueError:
        kind = "a whole number" if hint is int else "a number"
        raise ConfigError(f"{what} takes {kind}, got {value!r}") from None
    return str(value)


def bind(step: Callable[..., Any], command: str, args: list[str], options: dict[str, Any],
         where: str) -> tuple[list[Any], dict[str, Any]]:
    """The positional and keyword arguments that call ``step`` (after its workspace parameter)
    with a stage's ``args`` and ``options``; ConfigError on anything the command line would reject.
    ``where`` names the stage in the message (``pipeline demo, stage train``)."""
    signature = inspect.signature(step)
    hints = typing.get_type_hints(step)
    params = list(signature.parameters.values())[1:]  # the first is the workspace
    positional = [p for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    keywords = {p.name: p for p in params if p.kind is p.KEYWORD_ONLY}

    bound_args: list[Any] = []
    rest = list(args)
    for p in positional:
        what = f"{where}: `{command}` argument {p.name.upper()}"
        if is_multiple(hints[p.name]):
            if not rest and p.default is p.empty:
                raise ConfigError(f"{what} is missing (args = [...])")
            bound_args.append(convert(rest, hints[p.name], what))
            rest = []
        elif rest:
            bound_args.append(convert(rest.pop(0), hints[p.name], what))
        elif p.default is p.empty:
            raise ConfigError(f"{what} is missing (args = [...])")
    if rest:
        raise ConfigError(f"{where}: `{command}` takes {len(positional)} argument(s), got {len(args)}: {args}")

    bound: dict[str, Any] = {}
    for key, value in options.items():
        if key not in keywords:
            known = ", ".join(_flag(k) for k in keywords)
            raise ConfigError(f"{where}: `{command}` has no option {_flag(key)} (its options: {known})")
        bound[key] = convert(value, hints[key], f"{where}: {_flag(key)}")
    missing = [_flag(k) for k, p in keywords.items() if p.default is p.empty and k not in bound]
    if missing:
        raise ConfigError(f"{where}: `{command}` needs {', '.join(missing)}")
    return bound_args, bound
