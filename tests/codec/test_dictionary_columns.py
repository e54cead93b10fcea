"""Dictionary-encoded columns encode to the same bytes as their plain values.

The synthetic source hands the encoder dictionary columns (each distinct symbol is
encoded once); any other producer may too. Whatever the column's form, the bytes and
the errors must be the same.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lakeforge.codec import AvroSchema, confluent_header, encode
from lakeforge.errors import SchemaError
from tests.codec.samples import millis_to_micros, random_everything, random_trades


def _dictionaries(table: pa.Table) -> pa.Table:
    """``table`` with every top-level string, binary or int column dictionary-encoded."""
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        if pa.types.is_string(kind) or pa.types.is_binary(kind) or pa.types.is_integer(kind):
            column = pc.dictionary_encode(column)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


@pytest.mark.parametrize("prefix", [b"", confluent_header(7), b"abc", bytes(range(12))])
def test_trades_with_dictionaries_encode_byte_for_byte(
    trade_schema: AvroSchema, prefix: bytes
) -> None:
    plain = pa.Table.from_pylist(random_trades(3000, 4), schema=trade_schema.arrow_schema)
    coded = _dictionaries(plain)
    assert pa.types.is_dictionary(coded.schema.field("symbol").type)

    assert encode(coded, trade_schema, prefix).equals(encode(plain, trade_schema, prefix))


def test_every_type_with_dictionaries_encodes_byte_for_byte(everything_schema: AvroSchema) -> None:
    records = millis_to_micros(random_everything(500, 8), ("ts_ms",))
    plain = pa.Table.from_pylist(records, schema=everything_schema.arrow_schema)
    coded = _dictionaries(plain)
    assert pa.types.is_dictionary(coded.schema.field("ns").type)  # with nulls in it

    assert encode(coded, everything_schema).equals(encode(plain, everything_schema))


def test_long_strings_in_a_dictionary_encode_byte_for_byte(trade_schema: AvroSchema) -> None:
    plain = pa.Table.from_pylist(random_trades(200, 5), schema=trade_schema.arrow_schema)
    long_names = pa.array([f"SYMBOL-{i % 3}-WITH-A-LONG-NAME" for i in range(200)])
    plain = plain.set_column(plain.schema.get_field_index("symbol"), "symbol", long_names)

    assert encode(_dictionaries(plain), trade_schema).equals(encode(plain, trade_schema))


def test_an_unused_bad_dictionary_value_is_no_error(trade_schema: AvroSchema) -> None:
    plain = pa.Table.from_pylist(random_trades(100, 6), schema=trade_schema.arrow_schema)
    exchange = plain["exchange"].combine_chunks()
    # "MOON" is no exchange symbol, but no row uses it
    dictionary = pa.concat_arrays([pc.unique(exchange), pa.array(["MOON"])])
    indices = pc.index_in(exchange, value_set=dictionary)
    coded = plain.set_column(
        plain.schema.get_field_index("exchange"),
        "exchange",
        pa.DictionaryArray.from_arrays(indices, dictionary),
    )

    assert encode(coded, trade_schema).equals(encode(plain, trade_schema))


def test_a_used_bad_dictionary_value_fails_as_the_plain_value_does(
    trade_schema: AvroSchema,
) -> None:
    plain = pa.Table.from_pylist(random_trades(100, 7), schema=trade_schema.arrow_schema)
    bad = pa.array(["MOON", *plain["exchange"].to_pylist()[1:]])
    plain = plain.set_column(plain.schema.get_field_index("exchange"), "exchange", bad)

    with pytest.raises(SchemaError) as from_plain:
        encode(plain, trade_schema)
    with pytest.raises(SchemaError) as from_dictionary:
        encode(_dictionaries(plain), trade_schema)
    assert str(from_dictionary.value) == str(from_plain.value)
