"""Provision again when the lake gains or loses a table.

The charts read the latest snapshot of each table by themselves; only a new table (a
gold model built for the first time) needs a new view in the serving file and,
perhaps, a dashboard that was waiting for it. Whoever serves the dashboard
(``lakeforge dashboard``, ``lakeforge run``) calls :meth:`LakeWatcher.check` now and
then.
"""

from __future__ import annotations

from lakeforge.dashboard.lake import lake_tables
from lakeforge.dashboard.provision import ProvisionReport, provision
from lakeforge.dashboard.server import SupersetServer
from lakeforge.dashboard.spec import Dashboard

#: How often a server's caller should check, in seconds.
CHECK_INTERVAL_S = 15.0


class LakeWatcher:
    """Provisions ``server`` whenever the set of lake tables differs from the last time."""

    def __init__(self, server: SupersetServer, dashboards: list[Dashboard] | None = None) -> None:
        self.server = server
        self.dashboards = dashboards
        self._known: set[str] | None = None

    def check(self) -> ProvisionReport | None:
        """Provision if the lake's tables changed (or on the first call); return the report."""
        tables = lake_tables(self.server.pipeline)
        if tables == self._known:
            return None
        report = provision(self.server, self.dashboards)
        self._known = tables
        return report
