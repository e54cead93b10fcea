{#- Tests with `where: __new_rows__` check only the rows the current run wrote: a test of
    the whole of silver every few seconds would cost more with every trade. dbt renders
    this macro when the test runs, so the run number is the current one. -#}
{% macro get_where_subquery(relation) -%}
    {% set where = config.get('where', '') %}
    {% if where %}
        {% set where = where | replace('__new_rows__', '_transform_run = ' ~ lakeforge_run()) %}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {% do return(filtered) %}
    {%- else -%}
        {% do return(relation) %}
    {%- endif -%}
{%- endmacro %}
