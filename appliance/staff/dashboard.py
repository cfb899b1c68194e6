"""The workflow-quality dashboard's cards: each measure's overall value, its weekly bars, its
value for every procedure family and its definition (what the figure counts), side by side."""

from __future__ import annotations

from typing import Any

from appliance.staff.charts import weekly_bars
from appliance.staff.html import e
from appliance.staff.metrics import display


def _families(x: dict[str, Any]) -> str:
    cells = "".join(f'<tr data-family="{e(f)}"><th scope="row">{e(f)}</th><td>{e(display(v, x["unit"]))}</td></tr>'
                    for f, v in x["by_family"].items())
    return f'<table class="families"><caption>By procedure family</caption>{cells}</table>'


def metric_cards(m: dict[str, Any]) -> str:
    return "".join(
        f'<div class="card" id="metric-{e(x["key"])}"><h3>{e(x["label"])}</h3>'
        f'<div class="big">{e(display(x["value"], x["unit"]))}</div>'
        f'<p class="definition">{e(x["definition"])}</p>{weekly_bars(x["label"], x["weekly"], x["unit"])}'
        f'{_families(x)}</div>' for x in m["metrics"])
