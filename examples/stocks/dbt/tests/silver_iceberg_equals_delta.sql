{#- Silver built from the Iceberg bronze equals silver built from the Delta bronze, row
    for row. lakeforge pins both formats to the same committed snapshot before a build.
    The comparison covers the log positions of the rows this run added to silver, so it
    costs what arrived, not all of bronze; a full refresh compares everything. -#}

with added as (
    select bronze_partition, min(bronze_offset) as first_offset, max(bronze_offset) as last_offset
    from {{ ref('silver_trades') }}
    where _transform_run = {{ lakeforge_run() }}
    group by bronze_partition
),

{% set new_rows = ref('silver_trades') ~ ' where _transform_run = ' ~ lakeforge_run() %}
{% set recent = ingested_since('b._ingested_at', 'select min(ingested_at) from ' ~ new_rows) %}
{% for side in ['bronze', 'bronze_delta'] %}
{{ side }}_added as (
    select b.*
    from {{ source(side, 'trades') }} as b
    inner join added as a
        on b._partition = a.bronze_partition
        and b._offset between a.first_offset and a.last_offset
    {% if recent | trim %} where {{ recent }} {% endif %}
),
{% endfor %}

from_iceberg as (
    {{ silver_trades_from('bronze_added') }}
),

from_delta as (
    {{ silver_trades_from('bronze_delta_added') }}
),

only_iceberg as (
    select * from from_iceberg
    except
    select * from from_delta
),

only_delta as (
    select * from from_delta
    except
    select * from from_iceberg
)

select 'only in Iceberg bronze' as found, trade_id from only_iceberg
union all
select 'only in Delta bronze' as found, trade_id from only_delta
