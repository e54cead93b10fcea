{#- Layers are schemas named exactly silver and gold, as in the lake's catalog (dbt would
    otherwise prefix them with the target schema: main_silver). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}
