"""Passwords: from the environment (already in the settings) or from a file of their own.

A secret file is what Kubernetes and Docker mount (``/run/secrets/...``). Its content is
read when connecting and never shown: errors name the setting and the file, not the value.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from lakeforge.errors import ConfigError


def read_secret(
    value: SecretStr | None, file: Path | None, setting: str, directory: Path
) -> str | None:
    """The password set for ``setting`` (``kafka.sasl_password``), if any.

    ``file`` is resolved against ``directory`` (the pipeline's folder). One trailing
    newline is dropped, as ``echo secret > file`` writes one.
    """
    if value is not None:
        return value.get_secret_value()
    if file is None:
        return None
    path = (directory / file).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{setting}_file: {path} does not exist", "mount the secret there, or fix the path"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.__class__.__name__
        raise ConfigError(f"{setting}_file: cannot read {path}: {reason}") from None
    secret = text.removesuffix("\n").removesuffix("\r")
    if not secret:
        raise ConfigError(f"{setting}_file: {path} is empty", "write the password into it")
    return secret
