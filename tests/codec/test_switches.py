"""The environment switches of the native paths: 0 or 1, anything else refused clearly."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakeforge.codec import AvroSchema, Decoder, decode_native, encode, encode_native, frame
from lakeforge.errors import ConfigError
from lakeforge.source.trades import TradeGenerator
from tests.codec.samples import TRADE_TEXT

TRADE = AvroSchema.parse(TRADE_TEXT)
SWITCHES = [decode_native.SWITCH, encode_native.SWITCH]


def round_trip() -> pa.Table:
    table = TradeGenerator(seed=3).next_batch(20, 0, 1000)
    decoded = Decoder(TRADE, lambda i: TRADE_TEXT).decode(frame(1, encode(table, TRADE)))
    assert not decoded.errors.kind
    return decoded.table


@pytest.mark.parametrize("value", ["0", "1"])
def test_zero_and_one_choose_the_path(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for switch in SWITCHES:
        monkeypatch.setenv(switch, value)
    assert decode_native.enabled() == encode_native.enabled() == (value == "1")
    assert round_trip().num_rows == 20


def test_unset_means_native(monkeypatch: pytest.MonkeyPatch) -> None:
    for switch in SWITCHES:
        monkeypatch.delenv(switch, raising=False)
    assert decode_native.enabled() and encode_native.enabled()


@pytest.mark.parametrize("switch", SWITCHES)
@pytest.mark.parametrize("value", ["false", "off", "no", "", " 0", "2", "yes"])
def test_other_values_are_refused_naming_the_variable(
    switch: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(switch, value)
    with pytest.raises(ConfigError) as refused:
        round_trip()
    assert refused.value.what == f"environment variable {switch}={value!r} is neither 0 nor 1"
    assert refused.value.hint is not None and f"{switch}=0" in refused.value.hint
