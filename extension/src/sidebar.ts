/**
 * The Reef sidebar: for the current notebook, its solution, its requirements (status, Install),
 * its runs (status, parameters, metrics) and the actions (run with parameters, export, dashboard).
 * The actions are commands, so the command palette runs exactly what the buttons run.
 */
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { downloadUrl, get, INotebookInfo, IRequirements, IRun, post } from './api';
import { onDeclared } from './declarations';
import { IRerun, IRunPage, renderRunPage, runIdOf, runLine } from './runview';

export const COMMANDS = {
  refresh: 'reef:refresh',
  install: 'reef:install',
  run: 'reef:run-with-parameters',
  export: 'reef:export',
  dashboard: 'reef:open-dashboard',
  open: 'reef:open-sidebar',
};

export class ReefSidebar extends Widget {
  constructor(private commands: CommandRegistry) {
    super();
    this.id = 'reef-sidebar';
    this.addClass('reef-sidebar');
    this.title.caption = 'Reef: solution, requirements and runs of this notebook';
    onDeclared((path, reef) => {
      this._declared.set(path, reef);
      if (path === this._path) {
        void this.refreshRequirements(path);
      }
    });
    this.render();
  }

  /** The requirements again, with the open notebook's unsaved `metadata.reef` (after `%reef require` into it). */
  async refreshRequirements(path: string): Promise<void> {
    const requirements = await this.requirementsOf(path).catch((error: Error) => error);
    if (path === this._path) {
      this._requirements = requirements;
      this.render();
    }
  }

  /** The requirements checked where the solution runs (POST with the editor's declarations when it holds some). */
  private requirementsOf(path: string): Promise<IRequirements> {
    const declared = this._declared.get(path);
    return declared === undefined
      ? get<IRequirements>('requirements', path)
      : post<IRequirements>('requirements', { path, declared });
  }

  /** The notebook shown, or null. */
  get path(): string | null {
    return this._path;
  }

  get info(): INotebookInfo | null {
    return this._info;
  }

  /** The run whose executed notebook is shown (runview.ts), or null. */
  get run(): IRunPage | null {
    return this._run;
  }

  /** The run the last "rerun" made of the shown run (or why it failed). */
  set rerun(value: IRerun | Error | null) {
    this._rerun = value;
    this.render();
  }

  /** Show another notebook (null: none is open). */
  async follow(path: string | null): Promise<void> {
    if (path === this._path) {
      return;
    }
    this._path = path;
    await this.refresh();
  }

  /** Read the notebook's solution, requirements and runs again. */
  async refresh(): Promise<void> {
    const path = this._path;
    if (this._info?.path !== path) {
      this._exported = null;
    }
    this._info = null;
    this._requirements = null;
    this._runs = null;
    this._error = null;
    if (this._run?.notebook !== path) {
      this._rerun = null;
    }
    this._run = null;
    this._loading = path !== null;
    this.render();
    if (path === null) {
      return;
    }
    if (runIdOf(path) !== null) {
      await this.refreshRun(path);
      return;
    }
    try {
      this._info = await get<INotebookInfo>('notebook', path);
      this.render();
      const [requirements, runs] = await Promise.all([
        this.requirementsOf(path).catch((error: Error) => error),
        get<{ runs: IRun[] }>('runs', path).catch((error: Error) => error),
      ]);
      if (path !== this._path) {
        return;
      }
      this._requirements = requirements;
      this._runs = runs instanceof Error ? runs : runs.runs;
    } catch (error) {
      if (path !== this._path) {
        return;
      }
      this._error = (error as Error).message;
    }
    this._loading = false;
    this.render();
  }

  /** A run's executed notebook: the run page instead of its solution's requirements, runs and export. */
  private async refreshRun(path: string): Promise<void> {
    const page = await get<IRunPage>('run', path).catch((error: Error) => error);
    if (path === this._path) {
      this._run = page instanceof Error ? null : page;
      this._error = page instanceof Error ? page.message : null;
      this._loading = false;
      this.render();
    }
  }

  /** The package the last export wrote (shown with a download link). */
  set exported(path: string) {
    this._exported = path;
    this.render();
  }

  /** Mark the panel busy while an action runs (its buttons are disabled). */
  set busy(value: boolean) {
    this._busy = value;
    this.render();
  }

  private render(): void {
    const node = this.node;
    node.replaceChildren();
    node.appendChild(element('h2', 'reef-title', 'Reef'));
    if (this._path === null) {
      node.appendChild(element('p', 'reef-note', 'Open a notebook to see its solution, requirements and runs.'));
      return;
    }
    node.appendChild(element('div', 'reef-path', this._path));
    if (this._error) {
      node.appendChild(element('p', 'reef-error', this._error));
      return;
    }
    if (this._run !== null) {
      node.appendChild(renderRunPage(this._run, this.commands, this._busy, this._rerun));
      return;
    }
    const info = this._info;
    if (info === null) {
      node.appendChild(element('p', 'reef-note', 'Loading…'));
      return;
    }
    node.appendChild(this.solutionSection(info));
    node.appendChild(this.actions(info));
    if (this._exported) {
      const line = element('div', 'reef-exported', 'Exported: ');
      const link = element('a', '', this._exported) as HTMLAnchorElement;
      link.href = downloadUrl(this._exported);
      link.download = this._exported.split('/').pop()!;
      line.appendChild(link);
      node.appendChild(line);
    }
    node.appendChild(this.requirementsSection());
    node.appendChild(this.runsSection());
  }

  private solutionSection(info: INotebookInfo): HTMLElement {
    const section = element('section', 'reef-solution');
    section.appendChild(element('h3', '', 'Solution'));
    const solution = info.solution;
    const name = element('div', 'reef-solution-name', `${solution.name}@${solution.version}`);
    name.dataset.solution = solution.name;
    section.appendChild(name);
    if (solution.description) {
      section.appendChild(element('div', 'reef-note', solution.description));
    }
    const where = solution.manifest
      ? `${solution.manifest} · workflow ${info.workflow ?? '(none runs this notebook)'}`
      : 'this notebook alone (no solution.json runs it)';
    section.appendChild(element('div', 'reef-note', where));
    return section;
  }

  private actions(info: INotebookInfo): HTMLElement {
    const bar = element('div', 'reef-actions');
    const buttons: Array<[string, string]> = [];
    if (info.workflow !== null) {
      // "with parameters" only where the notebook has some: a form of nothing is no choice
      const hasParameters = Object.keys(info.parameters.properties).length > 0;
      buttons.push([COMMANDS.run, hasParameters ? 'Run with parameters…' : 'Run']);
    }
    buttons.push(
      [COMMANDS.export, 'Export as solution'],
      [COMMANDS.dashboard, 'Open dashboard'],
      [COMMANDS.refresh, 'Refresh'],
    );
    for (const [command, label] of buttons) {
      bar.appendChild(this.button(command, label));
    }
    return bar;
  }

  private button(command: string, label: string): HTMLButtonElement {
    const button = element('button', 'jp-mod-styled reef-button', label) as HTMLButtonElement;
    button.dataset.command = command;
    button.disabled = this._busy || this._loading || !this.commands.isEnabled(command);
    button.addEventListener('click', () => void this.commands.execute(command));
    return button;
  }

  /** A section with its title; the value when it has arrived, else null (and the section says why). */
  private section<T>(
    className: string,
    title: string,
    value: T | Error | null,
    pending: string,
  ): [HTMLElement, T | null] {
    const section = element('section', className);
    section.appendChild(element('h3', '', title));
    if (value instanceof Error) {
      section.appendChild(element('p', 'reef-error', value.message));
      return [section, null];
    }
    if (value === null) {
      section.appendChild(element('p', 'reef-note', pending));
    }
    return [section, value];
  }

  private requirementsSection(): HTMLElement {
    const [section, requirements] = this.section('reef-requirements', 'Requirements', this._requirements, 'Checking…');
    if (requirements === null) {
      return section;
    }
    // Where the solution runs (commands.run_place), what was found there, and why it runs there.
    const checked = element('div', 'reef-checked', requirements.summary);
    checked.dataset.place = requirements.place.label;
    section.appendChild(checked);
    section.appendChild(
      element('div', 'reef-note reef-place', `runs in ${requirements.place.label}: ${requirements.place.why}`),
    );
    if (requirements.requirements.length === 0) {
      section.appendChild(element('p', 'reef-note', 'Nothing required.'));
    } else {
      const table = element('table', 'reef-table');
      for (const requirement of requirements.requirements) {
        const head =
          requirement.kind === requirement.name ? requirement.name : `${requirement.name} (${requirement.kind})`;
        const lines = [head, `needs ${requirement.required || 'any'} · found ${requirement.found ?? '-'}`];
        if (requirement.reason) {
          lines.push(requirement.reason);
        }
        const line = row(requirement.status, lines);
        line.dataset.name = requirement.name;
        table.appendChild(line);
      }
      section.appendChild(table);
    }
    const install = requirements.install;
    if (install === null) {
      section.appendChild(element('div', 'reef-note', 'Install needs a solution: export this notebook as one first.'));
      return section;
    }
    // What the button would change, in its own words, before it does.
    const changes = element('div', 'reef-changes');
    changes.appendChild(element('div', 'reef-line', `${install.label} would:`));
    const list = element('ul', 'reef-change-list');
    for (const change of install.changes) {
      list.appendChild(element('li', 'reef-line', change));
    }
    changes.appendChild(list);
    section.appendChild(changes);
    section.appendChild(this.button(COMMANDS.install, install.label));
    if (install.refusal) {
      section.appendChild(element('div', 'reef-note reef-refusal', install.refusal));
    }
    return section;
  }

  private runsSection(): HTMLElement {
    const [section, runs] = this.section('reef-runs', 'Runs', this._runs, 'Reading…');
    if (runs === null) {
      return section;
    }
    if (runs.length === 0) {
      section.appendChild(element('p', 'reef-note', 'No runs recorded yet.'));
      return section;
    }
    const table = element('table', 'reef-table');
    for (const run of runs) {
      const parameters = Object.entries(run.parameters)
        .map(([name, value]) => `${name}=${format(value)}`)
        .join(' ');
      const metrics =
        run.error ??
        Object.entries(run.metrics)
          .map(([name, metric]) => `${name}=${format(metric.value)}${metric.unit ? ' ' + metric.unit : ''}`)
          .join(' ');
      const started = new Date(run.started).toLocaleString();
      const lines = [
        `${started} · ${run.workflow} · ${run.duration_s.toFixed(1)} s`,
        parameters || '(no parameters)',
        metrics,
      ];
      const line = row(run.status, run.system ? [...lines, run.system] : lines);
      line.dataset.run = run.run_id;
      line.title = run.run_id + (run.output ? `\n${run.output}` : '');
      this.attachedFiles(line.lastElementChild as HTMLElement, run);
      if (run.output) {
        line.lastElementChild!.appendChild(runLine(this.commands, run.run_id, run.output)); // its run view
      }
      table.appendChild(line);
    }
    section.appendChild(table);
    return section;
  }

  /** The run's attached files under its lines: a link that opens the file in JupyterLab when it is under the root. */
  private attachedFiles(cell: HTMLElement, run: IRun): void {
    for (const file of run.files ?? []) {
      const line = element('div', 'reef-line reef-file');
      line.dataset.file = file.name;
      if (file.path) {
        const link = element('a', 'reef-file-link', file.name) as HTMLAnchorElement;
        const path = file.path;
        link.href = '#';
        link.title = `Open ${path}`;
        link.addEventListener('click', event => {
          event.preventDefault();
          void this.commands.execute('docmanager:open', { path });
        });
        line.appendChild(link);
      } else {
        line.appendChild(element('span', '', file.name));
      }
      line.appendChild(element('span', '', `  ${file.details}`));
      cell.appendChild(line);
    }
    for (const refused of run.files_refused ?? []) {
      cell.appendChild(element('div', 'reef-line reef-file-refused', refused));
    }
  }

  private _path: string | null = null;
  private _info: INotebookInfo | null = null;
  private _run: IRunPage | null = null;
  private _rerun: IRerun | Error | null = null;
  private _requirements: IRequirements | Error | null = null;
  private _declared = new Map<string, unknown>(); // path -> metadata.reef as the editor holds it, after a declaration
  private _runs: IRun[] | Error | null = null;
  private _error: string | null = null;
  private _loading = false;
  private _busy = false;
  private _exported: string | null = null;
}

function element(tag: string, className: string, text?: string): HTMLElement {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** A table row: the status badge, then the lines of text (the first one bold). */
function row(status: string, lines: string[]): HTMLTableRowElement {
  const line = document.createElement('tr');
  line.dataset.status = status;
  const badgeCell = element('td', 'reef-badge-cell');
  badgeCell.appendChild(element('span', `reef-badge reef-status-${status.replace(/ /g, '-')}`, status));
  const text = element('td', 'reef-lines');
  lines.forEach((content, index) =>
    text.appendChild(element('div', index === 0 ? 'reef-line-head' : 'reef-line', content)),
  );
  line.append(badgeCell, text);
  return line;
}

/** A value as the sidebar shows it: floats to four significant digits. */
export function format(value: unknown): string {
  if (typeof value === 'number' && !Number.isInteger(value)) {
    return Number(value.toPrecision(4)).toString();
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}
