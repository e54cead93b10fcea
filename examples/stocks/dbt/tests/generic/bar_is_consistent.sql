{#- A price bar holds together: low <= open, close, vwap <= high. -#}
{% test bar_is_consistent(model) %}
select *
from {{ model }}
where not (
    low <= open and open <= high
    and low <= close and close <= high
    and low <= vwap + 1e-9 and vwap <= high + 1e-9
)
{% endtest %}
