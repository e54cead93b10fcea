"""``--metrics-port``: the option every long-running command shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

#: The value that turns the metrics server off.
OFF = "off"


class MetricsPort(click.ParamType[int | None, Any]):
    """A TCP port (0 for any free one), or ``off``; converts to ``int | None``."""

    name = "port"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | None:
        """Turn the command line text into a port number, or None for ``off``."""
        if isinstance(value, int) and 0 <= value <= 65535:
            return value
        text = str(value).strip().lower()
        if text == OFF:
            return None
        if text.isdigit() and int(text) <= 65535:
            return int(text)
        self.fail(
            f"{value!r} is not a port: give a number from 0 to 65535 (0 picks a free port) "
            f"or '{OFF}' for no metrics server",
            param,
            ctx,
        )


def metrics_port_option(command: F) -> F:
    """Add ``--metrics-port PORT|off`` (default 0: any free port, advertised)."""
    return click.option(
        "--metrics-port",
        type=MetricsPort(),
        metavar="PORT|off",
        default="0",
        show_default=True,
        help="Serve Prometheus metrics at http://127.0.0.1:PORT/metrics. 0 picks a free "
        "port; either way the URL is written to <state>/run/<role>.json, where "
        "'lakeforge status' and Prometheus configuration find it. 'off': no server.",
    )(command)
