{#- What a trading desk looks at first: each day's symbols ranked by the size of their
    move, gainers and losers together (1 = the largest move). -#}
{{ config(materialized='table') }}

select
    trade_date,
    symbol,
    open,
    close as last_price,
    return_pct as change_pct,
    volume,
    cast(
        row_number() over (
            partition by trade_date order by abs(return_pct) desc, symbol
        ) as integer
    ) as mover_rank
from {{ ref('gold_daily_summary') }}
