"""Dashboards: Apache Superset in its own environment, provisioned from dashboard files."""

from lakeforge.dashboard.environment import SupersetEnvironment
from lakeforge.dashboard.provision import ProvisionReport, provision
from lakeforge.dashboard.server import SupersetServer
from lakeforge.dashboard.spec import Dashboard, load_dashboards
from lakeforge.dashboard.watch import LakeWatcher

__all__ = [
    "Dashboard",
    "LakeWatcher",
    "ProvisionReport",
    "SupersetEnvironment",
    "SupersetServer",
    "load_dashboards",
    "provision",
]
