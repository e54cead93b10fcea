"""Prepare Superset's metadata database: run by Superset's Python, not lakeforge's.

``python superset_setup.py`` (with ``SUPERSET_CONFIG_PATH`` set) reads one JSON request
on standard input, so that no password ever appears on a command line::

    {"initialize": true, "admin_password": "...", "reset_admin": false,
     "service_user": "lakeforge", "service_password": "..."}

and does, in one process (Superset takes seconds to load):

1. ``superset db upgrade``: create or migrate the metadata tables;
2. ``superset init``, when asked: roles and permissions;
3. creates the ``admin`` user with ``admin_password`` if it does not exist, or resets its
   password when ``reset_admin``; Superset stores only the password's hash;
4. sets the service user's password (a new random one at every start), with which
   lakeforge provisions through the REST API.

It prints one line ``LAKEFORGE-SETUP {"admin_created": ..., "admin_reset": ...}``.
This module imports nothing from lakeforge: it runs in another virtual environment.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

RESULT_PREFIX = "LAKEFORGE-SETUP "
ADMIN_USER = "admin"


def _user(
    security: Any, username: str, last_name: str, password: str, reset: bool
) -> tuple[bool, bool]:
    """Create ``username`` as an Admin, or reset its password; return (created, reset)."""
    user = security.find_user(username=username)
    if user is None:
        role = security.find_role(security.auth_role_admin)
        email = f"{username}@lakeforge.invalid"
        if not security.add_user(username, username, last_name, email, role, password):
            raise SystemExit(f"Superset could not create the user {username!r}")
        return True, False
    if reset:
        security.reset_password(user.id, password)
        return False, True
    return False, False


def main() -> None:
    """Read the request, prepare the metadata database, print the result line."""
    request = json.loads(sys.stdin.read())
    create_app = importlib.import_module("superset.app").create_app
    migrate = importlib.import_module("flask_migrate")
    app = create_app()
    with app.app_context():
        superset = importlib.import_module("superset")
        migrate.upgrade()
        if request["initialize"]:
            superset.appbuilder.add_permissions(update_perms=True)
            superset.security_manager.sync_role_definitions()
            superset.db.session.commit()
        security = superset.security_manager
        created, reset = _user(
            security, ADMIN_USER, "(lakeforge)", request["admin_password"], request["reset_admin"]
        )
        service = request["service_user"]
        _user(security, service, "(provisioning)", request["service_password"], reset=True)
        superset.db.session.commit()
    print(RESULT_PREFIX + json.dumps({"admin_created": created, "admin_reset": reset}))


if __name__ == "__main__":
    main()
