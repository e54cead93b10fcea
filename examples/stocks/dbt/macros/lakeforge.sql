{#- The transform run number lakeforge passes in; rows carry it as _transform_run. It is
    an environment variable read only when models execute: a dbt var, or an env_var read
    while parsing, that changes every run would make dbt parse the project again. -#}
{% macro lakeforge_run() -%}
    {% if execute %}{{ env_var('LAKEFORGE_TRANSFORM_RUN', '0') }}{% else %}0{% endif %}
{%- endmacro %}

{#- The highest run already in an incremental model: rows of later runs are new to it. -#}
{% macro last_run_in(relation) -%}
    (select coalesce(max(_transform_run), 0) from {{ relation }})
{%- endmacro %}
