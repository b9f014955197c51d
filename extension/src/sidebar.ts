/**
 * The Reef sidebar: for the current notebook, its solution, its requirements (status, Install),
 * its runs (status, parameters, metrics) and the actions (run with parameters, export, dashboard).
 * The actions are commands, so the command palette runs exactly what the buttons run.
 */
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { downloadUrl, get, INotebookInfo, IRequirements, IRun } from './api';

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
    this.render();
  }

  /** The notebook shown, or null. */
  get path(): string | null {
    return this._path;
  }

  get info(): INotebookInfo | null {
    return this._info;
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
    this._loading = path !== null;
    this.render();
    if (path === null) {
      return;
    }
    try {
      this._info = await get<INotebookInfo>('notebook', path);
      this.render();
      const [requirements, runs] = await Promise.all([
        get<IRequirements>('requirements', path).catch((error: Error) => error),
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
    const info = this._info;
    if (info === null) {
      node.appendChild(element('p', 'reef-note', 'Loading…'));
      return;
    }
    node.appendChild(this.solutionSection(info));
    node.appendChild(this.actions());
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

  private actions(): HTMLElement {
    const bar = element('div', 'reef-actions');
    const buttons: Array<[string, string]> = [
      [COMMANDS.run, 'Run with parameters…'],
      [COMMANDS.export, 'Export as solution'],
      [COMMANDS.dashboard, 'Open dashboard'],
      [COMMANDS.refresh, 'Refresh'],
    ];
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
    const where =
      requirements.target === 'env'
        ? `environment ${requirements.environment}${requirements.exists ? '' : ' (not made yet)'}`
        : 'this python';
    section.appendChild(element('div', 'reef-note', `checked against ${where}`));
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
    const missing = requirements.requirements.some(r => r.status === 'missing' || r.status === 'conflict');
    const label = missing || !requirements.exists ? 'Install missing' : 'Initialise again';
    section.appendChild(this.button(COMMANDS.install, label));
    if (!requirements.installable) {
      section.appendChild(element('div', 'reef-note', 'Install needs a solution: export this notebook as one first.'));
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
  private _requirements: IRequirements | Error | null = null;
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
  badgeCell.appendChild(element('span', `reef-badge reef-status-${status}`, status));
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
