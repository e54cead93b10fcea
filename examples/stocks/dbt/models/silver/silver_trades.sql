{#- Every valid trade once, appended as it arrives. -#}
{{ config(materialized='incremental', incremental_strategy='append', unique_key='trade_id') }}

select
    t.*,
    {{ lakeforge_run() }} as _transform_run
from (
    {{ silver_trades_from(source('bronze', 'trades'), this if is_incremental() else none) }}
) as t
