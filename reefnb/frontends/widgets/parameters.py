"""The parameters form of ``%reef run --form``: one input per parameter of the workflow's schema, and a
button that runs the notebook with the values given.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from reefnb.common.exceptions import ReefError
from reefnb.frontends import commands
from reefnb.frontends.widgets.markup import MUTED, escape, message
from reefnb.frontends.widgets.summaries import run_summary
from reefnb.runs.spec import RunSpec


class ParametersForm(widgets.VBox):
    """A form built from a notebook's parameter schema (``reef params``), with a Run button.

    One input per parameter: a dropdown for an enum, bounded number boxes for ranges, a checkbox
    for a boolean, a text box otherwise (lists and dicts as JSON). Values go through the same
    casting and checks as ``reef run -p``.
    """

    def __init__(self, solution, schema: dict, workflow: str = "run", run: Callable[[RunSpec], dict] = commands.run):
        self.solution, self.schema, self.workflow = solution, schema, workflow
        self._run = run  # what runs the form's RunSpec: the command layer's run
        self.inputs: dict[str, widgets.Widget] = {
            name: _input_for(name, prop) for name, prop in schema.get("properties", {}).items()
        }
        self.button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.button.on_click(lambda _: self.submit())
        self.output = widgets.Output()
        self.record: dict | None = None
        rows = [
            widgets.HBox(
                [widget, widgets.HTML(f"<span style='color:{MUTED}'>{escape(prop.get('description', ''))}</span>")]
            )
            for widget, prop in zip(self.inputs.values(), schema.get("properties", {}).values(), strict=True)
        ]
        super().__init__(
            [widgets.HTML(f"<b>{escape(schema.get('title', 'parameters'))}</b>"), *rows, self.button, self.output]
        )

    def values(self) -> dict[str, Any]:
        """The form's values, as the command line would give them (strings for JSON fields)."""
        return {name: widget.value for name, widget in self.inputs.items()}

    def submit(self) -> dict | None:
        """Run the workflow with the form's values; the summary (or the error) shows below."""
        self.button.disabled = True
        self.output.clear_output()
        try:
            self.record = self._run(RunSpec(solution=self.solution, workflow=self.workflow, parameters=self.values()))
            with self.output:
                display(run_summary(self.record), raw=True)
        except ReefError as error:
            with self.output:
                display(message(str(error)), raw=True)
        finally:
            self.button.disabled = False
        return self.record


def _input_for(name: str, prop: dict) -> widgets.Widget:
    kind, default = prop.get("type"), prop.get("default")
    style = {"description_width": "initial"}
    if "enum" in prop:
        return widgets.Dropdown(
            options=prop["enum"],
            value=default if default in prop["enum"] else prop["enum"][0],
            description=name,
            style=style,
        )
    if kind == "boolean":
        return widgets.Checkbox(value=bool(default), description=name, style=style)
    if kind in ("integer", "number"):
        low = prop.get("minimum", prop.get("exclusiveMinimum"))
        high = prop.get("maximum", prop.get("exclusiveMaximum"))
        integer = kind == "integer"
        value = default if isinstance(default, (int, float)) else (low or 0)
        if low is not None or high is not None:
            bounded = widgets.BoundedIntText if integer else widgets.BoundedFloatText
            return bounded(
                value=value,
                min=low if low is not None else -(2**53),
                max=high if high is not None else 2**53,
                description=name,
                style=style,
            )
        return (widgets.IntText if integer else widgets.FloatText)(value=value, description=name, style=style)
    if kind in ("array", "object"):
        return widgets.Text(value=json.dumps(default) if default is not None else "", description=name, style=style)
    return widgets.Text(value="" if default is None else str(default), description=name, style=style)
