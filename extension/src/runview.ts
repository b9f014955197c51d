/**
 * The run view: a run's executed notebook (SOLUTION/runs/RUN_ID/NAME.ipynb, what `reef run` keeps) opens as that
 * run, not as one more "main.ipynb": its tab is named by the run id, no kernel starts on it (it is an archive),
 * its cells are read-only, and the Reef sidebar shows the run (parameters, metrics, files, telemetry, where it
 * ran) with "Rerun with these parameters" instead of the solution's requirements, runs and export.
 *
 * Links: any relative link or path to such a notebook opens the view (`.compare()` links to them); the command
 * `reef:open-run` takes `{run_id}` or `{path}`, and the page URL `<base>/lab?reef-run=RUN_ID` runs it.
 */
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';
import { NotebookPanel } from '@jupyterlab/notebook';

import { getWith, IRun } from './api';
import { format } from './sidebar';

export const RUN_COMMANDS = {
  open: 'reef:open-run',
  rerun: 'reef:rerun',
};

/** A run's executed notebook, as reefnb.runs.execute names it (run ids are new_run_id's). */
const RUN_NOTEBOOK = /(?:^|\/)runs\/(\d{8}T\d{6}Z-[0-9a-f]+)\/[^/]+\.ipynb$/;

/** The run id of a run's executed notebook path, else null. */
export function runIdOf(path: string | null): string | null {
  const found = path === null ? null : RUN_NOTEBOOK.exec(path);
  return found ? found[1] : null;
}

export interface ITelemetryRow {
  name: string;
  value: number | null; // null: not measured, `description` says why
  unit: string | null;
  description: string;
}

/** GET reef/api/run: a run whose executed notebook is open (reefnb/frontends/server.py run_page). */
export interface IRunPage extends IRun {
  notebook: string; // the executed notebook, relative to the server's root
  ended: string | null;
  solution: { name: string; version: string; folder: string | null };
  source: string | null; // the workflow's notebook that a rerun runs again; null when it cannot
  rerun: string | null; // why it cannot run again here, else null
  environment: string; // where it ran, one line
  telemetry: ITelemetryRow[];
  telemetry_series: string | null; // telemetry.csv, relative to the root
}

/** POST reef/api/run: the new run. */
export interface IRerun extends IRun {
  rerun_of: string;
}

/**
 * The document-registry extension of the notebook factory: a run's notebook starts no kernel (set before the
 * context populates, which is when a kernel would start), is read-only and is named by its run id.
 */
export const runNotebookExtension = {
  createNew(panel: NotebookPanel): void {
    const runId = runIdOf(panel.context.path);
    if (runId === null) {
      return;
    }
    const session = panel.context.sessionContext;
    session.kernelPreference = {
      ...session.kernelPreference,
      shouldStart: false,
      canStart: false,
      autoStartDefault: false,
    };
    panel.addClass('reef-run-notebook');
    panel.title.caption = `run ${runId}: ${panel.context.path}`;
    // A document's tab label is its file name: the widget renames the file when the label changes. Named by the
    // run id only once that is disconnected (never a rename of the run's archive).
    const renames = (panel as unknown as { _onTitleChanged?: () => void })._onTitleChanged;
    if (renames && panel.title.changed.disconnect(renames, panel)) {
      panel.title.label = `run ${runId}`;
    }
    const label = new Widget({ node: el('span', 'reef-run-label', `run ${runId} · read-only, no kernel`) });
    label.node.title = `${panel.context.path}: what run ${runId} left; Save As makes a copy to edit`;
    panel.toolbar.insertItem(0, 'reef-run', label);
    const readOnly = () => {
      for (const cell of panel.content.widgets) {
        cell.syncEditable = false; // read-only in this view, not `editable: false` written into the run's cells
        cell.readOnly = true;
      }
    };
    void panel.context.ready.then(() => {
      panel.context.model.readOnly = true;
      readOnly();
      panel.content.model?.cells.changed.connect(readOnly);
    });
  },
};

/** The run id a command's arguments name: `run_id`, or the `reef-run` query argument of a routed URL. */
export function runIdArgument(args: { [key: string]: unknown }): string | null {
  if (typeof args.run_id === 'string' && args.run_id) {
    return args.run_id;
  }
  if (typeof args.search === 'string') {
    return new URLSearchParams(args.search).get('reef-run');
  }
  return null;
}

/** Open a run's executed notebook (by run id or path) as the run view; the notebook's path. */
export async function openRun(commands: CommandRegistry, args: { [key: string]: unknown }): Promise<string> {
  const runId = runIdArgument(args); // a routed URL's args hold its own `path` (/lab): the run id goes first
  let path = runId === null && typeof args.path === 'string' ? args.path : null;
  if (runId !== null) {
    path = (await getWith<IRunPage>('run', { run_id: runId })).notebook;
  }
  if (path === null) {
    throw new Error('reef: open a run: give its run_id or the path of its executed notebook');
  }
  await commands.execute('docmanager:open', { path });
  return path;
}

/** The sidebar's content for a run's notebook. `rerun`: the last rerun of it from this view. */
export function renderRunPage(
  page: IRunPage,
  commands: CommandRegistry,
  busy: boolean,
  rerun: IRerun | Error | null,
): HTMLElement {
  const view = el('div', 'reef-run-page');
  view.dataset.run = page.run_id;
  const head = el('section', 'reef-run-head');
  const title = el('h3', '', `Run ${page.run_id}`);
  title.prepend(el('span', `reef-badge reef-status-${page.status}`, page.status), ' ');
  head.appendChild(title);
  head.appendChild(
    el('div', 'reef-solution-name', `${page.solution.name}@${page.solution.version} · ${page.workflow}`),
  );
  const started = page.started ? new Date(page.started).toLocaleString() : '?';
  head.appendChild(el('div', 'reef-note', `${started} · ${page.duration_s.toFixed(1)} s · ${page.environment}`));
  if (page.error) {
    head.appendChild(el('p', 'reef-error', page.error));
  }
  view.appendChild(head);

  const actions = el('div', 'reef-actions');
  actions.appendChild(button(commands, RUN_COMMANDS.rerun, 'Rerun with these parameters', busy));
  if (page.source) {
    const source = page.source;
    const open = button(commands, 'docmanager:open', 'Open the solution notebook', busy, { path: source });
    open.title = source;
    actions.appendChild(open);
  }
  view.appendChild(actions);
  if (page.rerun) {
    view.appendChild(el('div', 'reef-note', page.rerun));
  }
  if (rerun instanceof Error) {
    view.appendChild(el('p', 'reef-error', rerun.message));
  } else if (rerun) {
    const line = el('div', 'reef-rerun', `Ran again as `);
    line.dataset.status = rerun.status;
    line.appendChild(runLink(commands, rerun.run_id, rerun.output));
    line.append(` (${rerun.status}, ${rerun.duration_s.toFixed(1)} s)`);
    view.appendChild(line);
  }

  const parameters = Object.entries(page.parameters).map(([name, value]): [string, string] => [name, format(value)]);
  view.appendChild(table('reef-run-parameters', 'Parameters', parameters, '(the defaults)'));
  const metrics = Object.entries(page.metrics).map(([name, metric]): [string, string] => [
    name,
    format(metric.value) + (metric.unit ? ` ${metric.unit}` : ''),
  ]);
  view.appendChild(table('reef-run-metrics', 'Metrics', metrics, 'none recorded'));
  view.appendChild(filesSection(page, commands));
  const telemetry = page.telemetry.map((row): [string, string] => [
    row.name,
    row.value === null ? `n/a: ${row.description}` : `${format(row.value)}${row.unit ? ` ${row.unit}` : ''}`,
  ]);
  const telemetrySection = table('reef-run-telemetry', 'Telemetry', telemetry, 'not sampled');
  page.telemetry.forEach((row, index) => {
    const line = telemetrySection.querySelectorAll('tr')[index];
    if (line && row.value !== null) {
      line.title = row.description;
    }
  });
  if (page.telemetry_series) {
    telemetrySection.appendChild(fileLine(commands, 'samples over time', page.telemetry_series));
  }
  view.appendChild(telemetrySection);
  return view;
}

function filesSection(page: IRunPage, commands: CommandRegistry): HTMLElement {
  const section = el('section', 'reef-run-files');
  section.appendChild(el('h3', '', 'Files'));
  section.appendChild(fileLine(commands, 'executed notebook', page.notebook));
  for (const file of page.files ?? []) {
    const line = file.path ? fileLine(commands, file.name, file.path) : el('div', 'reef-line', file.name);
    line.dataset.file = file.name;
    line.appendChild(el('span', 'reef-line', `  ${file.details}`));
    section.appendChild(line);
  }
  for (const refused of page.files_refused ?? []) {
    section.appendChild(el('div', 'reef-line reef-file-refused', refused));
  }
  return section;
}

/** A line with a link that opens `path` in JupyterLab. */
function fileLine(commands: CommandRegistry, name: string, path: string): HTMLElement {
  const line = el('div', 'reef-line reef-file');
  const link = el('a', 'reef-file-link', name);
  link.href = '#';
  link.title = `Open ${path}`;
  link.addEventListener('click', event => {
    event.preventDefault();
    void commands.execute('docmanager:open', { path });
  });
  line.appendChild(link);
  return line;
}

/** A line "open run RUN_ID" (the runs of the sidebar): the run view of that run's executed notebook. */
export function runLine(commands: CommandRegistry, runId: string, path: string): HTMLElement {
  const line = el('div', 'reef-line reef-open-run', 'open run ');
  line.appendChild(runLink(commands, runId, path));
  return line;
}

function runLink(commands: CommandRegistry, runId: string, path: string | null): HTMLElement {
  const link = el('a', 'reef-file-link reef-run-link', runId);
  link.href = '#';
  link.dataset.run = runId;
  link.addEventListener('click', event => {
    event.preventDefault();
    void commands.execute(RUN_COMMANDS.open, path ? { path } : { run_id: runId });
  });
  return link;
}

function button(
  commands: CommandRegistry,
  command: string,
  label: string,
  busy: boolean,
  args: { [key: string]: string } = {},
): HTMLButtonElement {
  const node = el('button', 'jp-mod-styled reef-button', label);
  node.dataset.command = command;
  node.disabled = busy || !commands.isEnabled(command, args);
  node.addEventListener('click', () => void commands.execute(command, args));
  return node;
}

/** A titled two-column table (name, value), or `empty` when there are no rows. */
function table(className: string, title: string, rows: Array<[string, string]>, empty: string): HTMLElement {
  const section = el('section', className);
  section.appendChild(el('h3', '', title));
  if (rows.length === 0) {
    section.appendChild(el('p', 'reef-note', empty));
    return section;
  }
  const body = el('table', 'reef-table reef-run-table');
  for (const [name, value] of rows) {
    const line = body.insertRow();
    line.dataset.name = name;
    line.insertCell().append(el('span', 'reef-run-name', name.replace(/_/g, '_\u200b'))); // breaks after an underscore
    line.insertCell().append(el('span', 'reef-run-value', value));
  }
  section.appendChild(body);
  return section;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}
