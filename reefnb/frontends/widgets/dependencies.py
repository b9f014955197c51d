"""The dependency panel of ``%reef init``: what the solution needs, what is here, and an "Install missing"
button that installs in the background and says what it did.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import ipywidgets as widgets
from packaging.utils import canonicalize_name

from reefnb.common.exceptions import ReefError
from reefnb.frontends import commands
from reefnb.frontends.rendering import format_size
from reefnb.frontends.widgets.markup import (
    MUTED,
    REQUIREMENT_COLUMNS,
    badge,
    escape,
    message_html,
    requirement_table,
    text_table,
)

log = logging.getLogger(__name__)


class DependencyPanel(widgets.VBox):
    """``%reef init``'s panel: each requirement with what was found where the solution runs, what "Install missing"
    would change, and the button.

    ``preview`` (``commands.preview_init``) holds the plan, its rows and why ``reef init`` would refuse it (the
    core's rules, trust included): then the button stays disabled. ``here`` (``commands.init_requirements_here``):
    the requirements checked against where the solution runs now (``commands.run_place``), shown instead of the
    plan's rows; ``recheck()`` gives them again after the install (the place has moved). ``install(progress)`` is
    what the button runs (``commands.init`` with the magic's options); it returns the lock. The button runs it in a
    thread, so the kernel stays free; ``install()`` runs it here and returns the Solution; ``wait()`` waits for a
    click's install.
    """

    def __init__(
        self,
        preview: commands.InitPreview,
        install: Callable[[Callable], dict] | None,
        dry_run: bool = False,
        here: commands.RequirementsHere | None = None,
        recheck: Callable[[], commands.RequirementsHere | None] | None = None,
    ):
        self.plan = preview.plan
        self.here = here
        self.rows = [dict(row) for row in (here.rows if here is not None else preview.rows)]
        missing = any(row["status"] in ("missing", "conflict") for row in self.rows)
        self.effect = (
            here.install
            if here is not None and here.install is not None
            else commands.install_effect(preview, None, missing)
        )
        self.solution = None
        self.lock: dict | None = None
        self.error: BaseException | None = None
        self.progress_bars: dict[str, widgets.IntProgress] = {}
        self.progress_labels: dict[str, widgets.HTML] = {}
        self._install = install
        self._recheck = recheck
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None
        self.blocked = preview.refusal or self._blocked_reason(dry_run)

        self.header = widgets.HTML(self._header_html())
        self.table = widgets.HTML(requirement_table(self.rows))
        self.changes = widgets.HTML(self._changes_html())
        self.button = widgets.Button(
            description=self.effect.label,
            icon="download",
            button_style="primary",
            disabled=self.blocked is not None,
            tooltip="reef init: " + "; ".join(self.effect.changes),
        )
        self.button.on_click(self._clicked)
        self.progress_box = widgets.VBox([])
        self.status = widgets.HTML(
            message_html([self.blocked], "warning" if dry_run else "error") if self.blocked else ""
        )
        super().__init__(
            [self.header, self.table, self.changes, widgets.HBox([self.button]), self.progress_box, self.status]
        )

    # -- what people see --

    def _where(self) -> str:
        """Where the rows were checked: the place the solution runs, else the plan's target."""
        plan = self.plan
        if self.here is not None:
            return str(self.here.place)
        if plan.target == "env":
            return f"environment {plan.environment}" + ("" if plan.exists else " (to be created)")
        return f"this python ({plan.python})"

    def _header_html(self) -> str:
        plan = self.plan
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        badges = " ".join(f"{badge(status)}&nbsp;{count}" for status, count in counts.items())
        if self.here is not None:
            why = f"<span style='color:{MUTED}'>({escape(self.here.place.why)})</span>"
            runs = f"runs in <b>{escape(self.here.place)}</b> {why}"
            checked = escape(self.here.summary)
        else:
            runs = f"→ {escape(self._where())}"
            checked = escape(f"checked against {self._where()}: {commands.checked_summary(self.rows)}")
        return (
            f'<div class="reef-place"><b>{escape(plan.solution.name)}@{escape(plan.solution.version)}</b> {runs}</div>'
            f'<div class="reef-checked">{checked} {badges}</div>'
        )

    def _changes_html(self) -> str:
        """What the button would change, in its own words, before it does (a list under "LABEL would:")."""
        items = "".join(f"<li>{escape(change)}</li>" for change in self.effect.changes)
        label = escape(self.effect.label)
        listed = f'<ul style="margin:0.2em 0">{items}</ul>'
        return f'<div class="reef-changes" style="font-size:0.9em">{label} would:{listed}</div>'

    def _blocked_reason(self, dry_run: bool) -> str | None:
        if dry_run:
            return "dry run: nothing changes (run %reef init without --dry-run to install)"
        if self._install is None:
            return "nothing to run"
        return None

    def __repr__(self) -> str:
        state = "installed" if self.lock is not None else ("blocked" if self.blocked else "ready to install")
        return f"<DependencyPanel {self.plan.solution.name}: {len(self.rows)} requirement(s), {state}>"

    def text(self) -> str:
        """The panel as plain text: what a notebook shows where widgets do not render."""
        plan = self.plan
        summary = (
            self.here.summary
            if self.here is not None
            else f"checked against {self._where()}: {commands.checked_summary(self.rows)}"
        )
        table = text_table(
            REQUIREMENT_COLUMNS, [[row[column] or "-" for column in REQUIREMENT_COLUMNS] for row in self.rows]
        )
        lines = [f"{plan.solution.name}@{plan.solution.version}: {summary}", table, f"{self.effect.label} would:"]
        lines += [f"  - {change}" for change in self.effect.changes]
        if self.blocked:
            lines.append(self.blocked)
        elif self.lock is not None:
            lines.append("installed")
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if data:
            data["text/plain"] = self.text()
        return data

    # -- installing --

    def install(self):
        """Run the install (what the button does) here; return the Solution. ReefError when it cannot."""
        with self._mutex:
            if self.lock is not None:
                return self.solution
            if self.blocked:
                raise ReefError(self.blocked)
            self.error = None
            self.button.disabled = True
            self.button.description = "Installing…"
            self.button.icon = "spinner"
            self.status.value = message_html([self._what_happens()], "info")
            try:
                lock = self._install(self.report_progress)
            except BaseException as error:
                self.error = error
                self.button.disabled = False
                self.button.description = "Retry"
                self.button.icon = "refresh"
                text = str(error) if isinstance(error, ReefError) else f"{type(error).__name__}: {error}"
                self.status.value = message_html(text.splitlines() or [type(error).__name__], "error")
                raise
            self._installed(lock)
            return self.solution

    def wait(self, timeout: float | None = None):
        """Wait for the install a click started; the Solution, or None when it failed or still runs."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.solution

    def _clicked(self, _button=None) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._install_in_background, name="reef-init", daemon=True)
        self._thread.start()

    def _install_in_background(self) -> None:
        try:
            self.install()
        except ReefError:
            pass  # shown in the panel
        except Exception:  # a bug: shown in the panel, and its traceback logged
            log.exception("reef init failed")

    def _what_happens(self) -> str:
        return f"{self.effect.label}: " + "; ".join(self.effect.changes) + "…"

    def report_progress(self, name: str, done: int, total: int | None) -> None:
        """The ``progress(name, done, total)`` callback of ``reefnb.init``: one bar per artifact."""
        bar = self.progress_bars.get(name)
        if bar is None:
            bar = self.progress_bars[name] = widgets.IntProgress(
                min=0,
                max=max(total or 0, 1),
                description=name,
                bar_style="info",
                style={"description_width": "initial"},
                layout=widgets.Layout(width="420px"),
            )
            self.progress_labels[name] = widgets.HTML("")
            self.progress_box.children = [*self.progress_box.children, widgets.HBox([bar, self.progress_labels[name]])]
        if total:
            bar.max = max(total, 1)
        else:
            bar.max = max(bar.max, done, 1)
        bar.value = min(done, bar.max)
        self.progress_labels[name].value = escape(
            f"{format_size(done)} / {format_size(total)}" if total else format_size(done)
        )
        if total is not None and done >= total:
            bar.bar_style = "success"

    def _installed(self, lock: dict) -> None:
        self.lock = lock
        self.solution = self.plan.solution
        here = self._recheck() if self._recheck is not None else None
        if here is not None:  # where the solution runs now (its own environment), checked again
            self.here, self.rows = here, [dict(row) for row in here.rows]
        packages = {canonicalize_name(name): version for name, version in lock.get("packages", {}).items()}
        for row in self.rows if here is None else ():
            if row["kind"] == "package" and row["status"] in ("missing", "conflict"):
                row["found"] = packages.get(canonicalize_name(row["name"]))
                row["status"], row["reason"] = "installed", ""
            elif row["kind"] == "artifact":
                entry = lock.get("artifacts", {}).get(row["name"], {})
                if entry:
                    row["found"] = entry.get("source")
                    row["status"] = "found" if entry.get("source") == "cache" else "fetched"
                    row["reason"] = entry.get("path", "")
        for bar in self.progress_bars.values():
            bar.value, bar.bar_style = bar.max, "success"
        self.table.value = requirement_table(self.rows)
        self.header.value = self._header_html()
        self.changes.value = ""
        self.button.description, self.button.icon, self.button.button_style = "Installed", "check", "success"
        self.button.disabled = True
        environment = lock.get("environment", {})
        kernel = environment.get("kernel")
        workflows = ", ".join(self.solution.workflows) or "none"
        lines = [
            f"ready: {self.solution.name}@{self.solution.version} in {environment.get('path')}"
            + (f" (kernel {kernel})" if kernel else ""),
            f"workflows: {workflows} — run one with %reef run {self.solution.path}",
        ]
        self.status.value = message_html(lines, "ok")
