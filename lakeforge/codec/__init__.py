"""The vectorised Avro codec: Arrow tables to Confluent-framed Avro messages and back."""

from lakeforge.codec.cursors import ERROR_KINDS
from lakeforge.codec.decode import Decoded, DecodeErrors, Decoder
from lakeforge.codec.encode import confluent_header, encode, frame
from lakeforge.codec.schema import AvroSchema

__all__ = [
    "ERROR_KINDS",
    "AvroSchema",
    "DecodeErrors",
    "Decoded",
    "Decoder",
    "confluent_header",
    "encode",
    "frame",
]
