"""Command-line options generated from the configs: each field of a config is one option, its default and
help come from the field, so a default is written once (in the config) and `--help` shows it.

`@config_options(TeacherConfig)` on a command whose function takes `cfg: TeacherConfig` adds one
`--field-name` option per field (nested configs and mappings are left to the YAML configs) and passes the
built config; pydantic validates it, so a refused value is one clear error naming the field.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

import typer
from pydantic import BaseModel


def _option_type(annotation: Any) -> Any | None:
    """The type typer parses for a field, or None when the field is not a command-line value."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(inner) != 1:
            return None
        parsed = _option_type(inner[0])
        return None if parsed is None else parsed | None
    if origin is tuple or origin is list:
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return list[args[0]] if args and args[0] in (str, int, float) else None
    if origin is typing.Literal:
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, (BaseModel, dict)):
        return None
    return annotation


def field_parameters(
    config: type[BaseModel],
    exclude: Iterable[str] = (),
    names: Mapping[str, tuple[str, ...]] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> list[inspect.Parameter]:
    """One keyword-only typer option per field of `config` (`names` gives a field other flags)."""
    hints = typing.get_type_hints(config)
    parameters = []
    for name, field in config.model_fields.items():
        option_type = _option_type(hints[name])
        if name in set(exclude) or option_type is None:
            continue
        flag = f"--{name.replace('_', '-')}"
        # a switch can be turned either way (a default of True is otherwise out of the user's reach)
        flags = (names or {}).get(name, (f"{flag}/--no-{flag[2:]}",) if option_type is bool else (flag,))
        default = (defaults or {}).get(name, field.get_default(call_default_factory=True))
        if isinstance(default, tuple):
            default = list(default)
        help_text = field.description or ""
        option = typer.Option(*flags, help=help_text)
        parameters.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=default,
                annotation=Annotated[option_type, option],
            )
        )
    return parameters


def config_options(
    config: type[BaseModel],
    arg: str = "cfg",
    exclude: Iterable[str] = (),
    names: Mapping[str, tuple[str, ...]] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command one option per config field; the function receives the built config as `arg`."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != arg]
        taken = {p.name for p in own}
        generated = [p for p in field_parameters(config, exclude, names, defaults) if p.name not in taken]
        fields = {p.name for p in generated}

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in list(kwargs) if name in fields}
            return fn(**kwargs, **{arg: config(**values)})

        parameters = own + generated
        command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        return command

    return decorate
