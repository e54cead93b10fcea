"""lakeforge: real-time data pipelines into an open lakehouse."""

__version__ = "0.1.0"
