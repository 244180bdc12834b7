"""`--config FILE` for the daemons: a TOML file whose keys are the command's flags without their
dashes (`heartbeat-interval = "2s"`, `store = "postgresql://..."`), for every flag the command
has; a flag given on the command line wins over the file. A key the command does not know, or a
value its flag would refuse, is named with the file: `scheduler.toml: heartbeat-interval: ...`."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _flags(command: click.Command) -> dict[str, click.Parameter]:
    """Each option by its long flag without dashes (and with underscores, as TOML people write)."""
    named: dict[str, click.Parameter] = {}
    for param in command.params:
        if not isinstance(param, click.Option) or param.name == "config":
            continue
        for flag in (*param.opts, *param.secondary_opts):
            if flag.startswith("--"):
                named[flag[2:]] = param
                named[flag[2:].replace("-", "_")] = param
    return named


def _read(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    path = Path(value)
    try:
        table = tomllib.loads(path.read_text())
    except OSError as error:
        raise click.BadParameter(f"cannot read {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise click.BadParameter(f"{path} is not TOML: {error}") from None
    assert ctx.command is not None
    flags = _flags(ctx.command)
    defaults: dict[str, Any] = {}
    for key, raw in table.items():
        param = flags.get(key)
        if param is None:
            known = ", ".join(sorted(k for k in flags if "_" not in k))
            raise click.BadParameter(f"{path}: unknown key {key!r}; the keys are: {known}")
        assert param.name is not None
        defaults[param.name] = _value(ctx, param, path, key, raw)
    ctx.default_map = {**(ctx.default_map or {}), **defaults}


def _value(ctx: click.Context, param: click.Parameter, path: Path, key: str, raw: Any) -> Any:
    """The file's value as the flag's default, checked as the flag would check it."""
    value = raw
    if isinstance(param, click.Option) and param.is_flag and param.secondary_opts:
        # `--cgroups/--no-cgroups`: the key says which, its value whether.
        if not isinstance(raw, bool):
            raise click.BadParameter(f"{path}: {key}: true or false, not {raw!r}")
        value = raw == (f"--{key.replace('_', '-')}" in param.opts)
    if param.multiple and not isinstance(value, list):
        value = [value]
    try:
        param.type_cast_value(ctx, value)
    except click.BadParameter as error:
        raise click.BadParameter(f"{path}: {key}: {error.message}") from None
    return value


def config_file_option(command: F) -> F:
    """Adds `--config FILE`, read before every other flag."""
    return click.option(
        "--config",
        type=click.Path(dir_okay=False),
        is_eager=True,
        expose_value=False,
        callback=_read,
        help="A TOML file of flags (keys are the flags without dashes); flags given win.",
    )(command)
