{#- A filter on bronze's ingestion time that readers can push down to file statistics, so
    that an incremental build skips the files of old batches instead of scanning all of
    bronze. `since_sql` selects one timestamp; the filter keeps a margin of
    `margin_seconds` before it. The runner stamps batches in commit order, so only a
    wall clock stepped back by more than the margin could hide rows from an incremental
    build (`lakeforge transform --full-refresh` repairs that). Exact selection is by log
    position; this only prunes. Renders nothing while dbt parses, or without rows. -#}
{% macro ingested_since(column, since_sql, margin_seconds=30) %}
    {%- if execute -%}
        {%- set since = run_query(since_sql).columns[0].values()[0] -%}
        {%- if since is not none -%}
            {%- set cutoff = since - modules.datetime.timedelta(seconds=margin_seconds) -%}
            {{ column }} >= cast('{{ cutoff.isoformat() }}' as timestamp with time zone)
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
