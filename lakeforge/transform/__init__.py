"""Silver and gold: a dbt project built on bronze and published to the lake as Iceberg."""

from lakeforge.transform.report import ModelReport, TransformReport
from lakeforge.transform.runner import Transformer

__all__ = ["ModelReport", "TransformReport", "Transformer"]
