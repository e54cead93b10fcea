{#- Per symbol and day: OHLC, volume, VWAP and the day's return, rolled up from the
    minute bars that this run rebuilt. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['symbol', 'trade_date'],
) }}

with touched as (
    select distinct symbol, cast(bar_minute as date) as trade_date
    from {{ ref('gold_bars_1m') }}
    {% if is_incremental() %}
    where _transform_run > {{ last_run_in(this) }}
    {% endif %}
),

days as (
    select
        b.symbol,
        t.trade_date,
        min_by(b.open, b.bar_minute) as open,
        max(b.high) as high,
        min(b.low) as low,
        max_by(b.close, b.bar_minute) as close,
        sum(b.vwap * b.volume) / sum(b.volume) as vwap,
        cast(sum(b.volume) as bigint) as volume,
        cast(sum(b.trade_count) as bigint) as trade_count
    from {{ ref('gold_bars_1m') }} as b
    inner join touched as t
        on b.symbol = t.symbol and cast(b.bar_minute as date) = t.trade_date
    group by b.symbol, t.trade_date
)

select
    symbol,
    trade_date,
    open,
    high,
    low,
    close,
    vwap,
    volume,
    trade_count,
    100 * (close - open) / open as return_pct,
    {{ lakeforge_run() }} as _transform_run
from days
