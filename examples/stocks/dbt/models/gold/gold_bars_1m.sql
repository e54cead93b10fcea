{#- One-minute OHLCV bars with VWAP. Each run rebuilds only the bars of the symbols and
    minutes that new silver trades touched (late trades included). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['symbol', 'bar_minute'],
) }}

with touched as (
    select distinct symbol, trade_minute
    from {{ ref('silver_trades') }}
    {% if is_incremental() %}
    where _transform_run > {{ last_run_in(this) }}
    {% endif %}
),

trades as (
    select s.symbol, s.trade_minute, s.price, s.size, s.event_time, s.trade_id
    from {{ ref('silver_trades') }} as s
    inner join touched as t
        on s.symbol = t.symbol and s.trade_minute = t.trade_minute
)

select
    symbol,
    trade_minute as bar_minute,
    -- The first and last trade by event time; the trade id breaks ties, so a rebuild
    -- always gives the same bar (min_by/max_by: DuckDB and Trino alike).
    min_by(price, row(event_time, trade_id)) as open,
    max(price) as high,
    min(price) as low,
    max_by(price, row(event_time, trade_id)) as close,
    sum(price * size) / sum(size) as vwap,
    cast(sum(size) as bigint) as volume,
    count(*) as trade_count,
    {{ lakeforge_run() }} as _transform_run
from trades
group by symbol, trade_minute
