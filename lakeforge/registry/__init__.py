"""Schema registries: the embedded one and a client for any Confluent-compatible one.

The embedded registry keeps subjects in SQLite and serves them over the Confluent REST
API; the HTTP client speaks that API to a registry by URL.
"""

from lakeforge.registry.base import (
    Compatibility,
    RegisteredSchema,
    SchemaRegistry,
    value_subject,
)
from lakeforge.registry.compat import compatibility_problems
from lakeforge.registry.errors import ErrorCode, IncompatibleSchemaError, RegistryNotFoundError
from lakeforge.registry.http_client import HttpRegistry
from lakeforge.registry.schemas import AvroSchema, canonical_text
from lakeforge.registry.server import RegistryServer
from lakeforge.registry.store import EmbeddedRegistry

__all__ = [
    "AvroSchema",
    "Compatibility",
    "EmbeddedRegistry",
    "ErrorCode",
    "HttpRegistry",
    "IncompatibleSchemaError",
    "RegisteredSchema",
    "RegistryNotFoundError",
    "RegistryServer",
    "SchemaRegistry",
    "canonical_text",
    "compatibility_problems",
    "value_subject",
]
