{#- Silver trades from one bronze relation: typed, valid, one row per trade id (the copy
    ingested first; within one batch, the lowest partition and offset). Shared by silver_trades and the test that Iceberg and Delta bronze
    give the same silver. -#}
{% macro silver_trades_from(bronze, after=none) %}
    with candidate as (
        select
            b.*,
            row_number() over (
                partition by b.trade_id order by b._ingested_at, b._partition, b._offset
            ) as copy_number
        from {{ bronze }} as b
        {% if after is not none %}
        -- Only what arrived since: by log position, never by event time, so a trade that
        -- arrives late (an old event time) is still picked up.
        left join (
            select bronze_partition, max(bronze_offset) as last_offset
            from {{ after }}
            group by bronze_partition
        ) as done on b._partition = done.bronze_partition
        where (done.last_offset is null or b._offset > done.last_offset)
        {% set recent = ingested_since('b._ingested_at', 'select max(ingested_at) from ' ~ after) %}
        {% if recent | trim %} and {{ recent }} {% endif %}
        {% endif %}
    )
    select
        trade_id,
        symbol,
        price,
        size,
        cast(exchange as {{ dbt.type_string() }}) as exchange,
        conditions,
        tape,
        event_time,
        cast({{ dbt.date_trunc('minute', 'cast(event_time as timestamp)') }} as timestamp)
            as trade_minute,
        cast(cast(event_time as timestamp) as date) as trade_date,
        price * size as notional,
        size < 100 as is_odd_lot,
        _ingested_at as ingested_at,
        _partition as bronze_partition,
        _offset as bronze_offset
    from candidate
    where copy_number = 1
        and price > 0
        and size > 0
        {% if after is not none %}
        and not exists (select 1 from {{ after }} as s where s.trade_id = candidate.trade_id)
        {% endif %}
{% endmacro %}
