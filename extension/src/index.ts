/**
 * The Reef sidebar for JupyterLab (reefnb): the current notebook's solution, requirements and runs,
 * and the actions Install, Run with parameters, Export as solution and Open dashboard, in the
 * sidebar and the command palette (category "Reef"). Progress and errors are notifications.
 * A run's executed notebook opens as the run (runview.ts): named by its run id, read-only, no kernel.
 */
import { IRouter, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, IFrame, MainAreaWidget, Notification, showDialog } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { followDeclarations } from './declarations';
import { downloadUrl, get, IDashboard, IExport, IInstall, INotebookInfo, IRun, post } from './api';
import { ParametersForm } from './parameters';
import { IRerun, openRun, RUN_COMMANDS, runNotebookExtension } from './runview';
import { COMMANDS, format, ReefSidebar } from './sidebar';

const REEF_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
<path class="jp-icon3" fill="#616161" d="M11 22v-6.2C8.6 15.4 7 13.4 7 11V7h2v4c0 1.3.8 2.4 2 2.8V3h2v8.8c1.2-.4 2-1.5 2-2.8V5h2v4c0 2.4-1.6 4.4-4 4.8V22z"/>
</svg>`;

const reefIcon = new LabIcon({ name: 'reefnb:reef', svgstr: REEF_SVG });

/** Run `work` with an in-progress notification that becomes its success or its one-line error. */
async function withProgress<T>(
  pending: string,
  work: () => Promise<T>,
  done: (result: T) => string,
  actions?: (result: T) => Notification.IAction[],
): Promise<T | undefined> {
  const id = Notification.emit(pending, 'in-progress', { autoClose: false });
  try {
    const result = await work();
    Notification.update({
      id,
      message: done(result),
      type: 'success',
      autoClose: 8000,
      actions: actions ? actions(result) : [],
    });
    return result;
  } catch (error) {
    Notification.update({ id, message: (error as Error).message, type: 'error', autoClose: false });
    return undefined;
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'reefnb:sidebar',
  description: 'The Reef sidebar: solution, requirements, runs, run with parameters, export, dashboard.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, IRouter],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    palette: ICommandPalette | null,
    router: IRouter | null,
  ) => {
    const { commands, shell } = app;
    // Before any notebook opens: a run's executed notebook starts no kernel (runview.ts).
    app.docRegistry.addWidgetExtension('Notebook', runNotebookExtension);
    const sidebar = new ReefSidebar(commands);
    sidebar.title.icon = reefIcon;
    shell.add(sidebar, 'right', { rank: 600 });
    followDeclarations(notebooks); // %reef require/tool/artifact change the open notebook's model

    const follow = () => void sidebar.follow(notebooks.currentWidget?.context.path ?? null);
    notebooks.currentChanged.connect(follow);
    notebooks.widgetAdded.connect((_, panel) => {
      panel.context.pathChanged.connect(follow);
    });
    void app.restored.then(follow);

    /** An action on the sidebar's notebook: the panel is busy and a notification shows its progress. */
    const act = async <T>(
      pending: string,
      work: () => Promise<T>,
      done: (result: T) => string,
      actions?: (result: T) => Notification.IAction[],
    ): Promise<T | undefined> => {
      sidebar.busy = true;
      try {
        return await withProgress(pending, work, done, actions);
      } finally {
        sidebar.busy = false;
      }
    };
    const notebookCommand = (id: string, label: string, execute: (info: INotebookInfo) => Promise<void>) => {
      commands.addCommand(id, {
        label,
        isEnabled: () => sidebar.info !== null,
        execute: () => execute(sidebar.info!),
      });
    };

    commands.addCommand(COMMANDS.open, {
      label: 'Reef: Show the Reef Sidebar',
      icon: reefIcon,
      execute: () => shell.activateById(sidebar.id),
    });
    commands.addCommand(COMMANDS.refresh, {
      label: 'Reef: Refresh',
      execute: () => sidebar.refresh(),
    });
    notebookCommand(COMMANDS.install, 'Reef: Install Missing Requirements', async info => {
      await act(
        `Installing the requirements of ${info.solution.name}…`,
        () => post<IInstall>('install', { path: info.path }),
        result =>
          `${result.solution}: ready in environment ${result.environment ?? '(this python)'}` +
          (result.kernel ? ` (kernel ${result.kernel})` : ''),
      );
      await sidebar.refresh();
    });
    notebookCommand(COMMANDS.run, 'Reef: Run with Parameters…', async info => {
      const answer = await showDialog({
        title: `Run ${info.solution.name}${info.workflow ? ` (${info.workflow})` : ''}`,
        body: new ParametersForm(info),
        buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Run' })],
      });
      if (!answer.button.accept || answer.value === null) {
        return;
      }
      const parameters = answer.value;
      const shown = Object.entries(parameters)
        .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
        .join(' ');
      const running = async () => {
        const run = await post<IRun>('runs', { path: info.path, parameters, workflow: info.workflow });
        if (run.status !== 'ok') {
          throw new Error(`run ${run.run_id} ${run.status}: ${run.error ?? ''}`);
        }
        return run;
      };
      await act(
        `Running ${info.solution.name} ${shown}…`,
        running,
        run =>
          `run ${run.run_id} ok in ${run.duration_s.toFixed(1)} s: ` +
          Object.entries(run.metrics)
            .map(([name, metric]) => `${name}=${format(metric.value)}`)
            .join(' '),
      );
      await sidebar.refresh();
    });
    notebookCommand(COMMANDS.export, 'Reef: Export as Solution', async info => {
      const result = await act(
        `Exporting ${info.solution.name}…`,
        () => post<IExport>('export', { path: info.path }),
        summary =>
          `wrote ${summary.package}: ${summary.members} files, ${summary.runs} runs, ${summary.expected} expected results`,
        summary => [{ label: 'Download', callback: () => window.open(downloadUrl(summary.package), '_blank') }],
      );
      if (result) {
        sidebar.exported = result.package;
      }
    });
    notebookCommand(COMMANDS.dashboard, 'Reef: Open Dashboard', async info => {
      const page = await act(
        `Drawing the dashboard of ${info.solution.name}…`,
        () => get<IDashboard>('dashboard', info.path),
        result => `dashboard of ${result.solution}: ${result.runs} runs`,
      );
      if (page === undefined) {
        return;
      }
      const frame = new IFrame({ sandbox: ['allow-scripts'] });
      frame.node.querySelector('iframe')!.srcdoc = page.html;
      const widget = new MainAreaWidget({ content: frame });
      widget.id = `reef-dashboard-${Date.now()}`;
      widget.title.label = `Dashboard: ${info.solution.name}`;
      widget.title.icon = reefIcon;
      widget.title.closable = true;
      shell.add(widget, 'main');
      shell.activateById(widget.id);
    });

    commands.addCommand(RUN_COMMANDS.open, {
      label: 'Reef: Open a Run…',
      execute: async args => {
        try {
          await openRun(commands, args);
        } catch (error) {
          Notification.error((error as Error).message, { autoClose: false });
        }
      },
    });
    if (router) {
      router.register({ command: RUN_COMMANDS.open, pattern: /[?&]reef-run=/ }); // <base>/lab?reef-run=RUN_ID
    }
    commands.addCommand(RUN_COMMANDS.rerun, {
      label: 'Reef: Rerun with These Parameters',
      isEnabled: () => sidebar.run !== null && sidebar.run.source !== null,
      execute: async () => {
        const run = sidebar.run!;
        const shown = Object.entries(run.parameters)
          .map(([name, value]) => `${name}=${format(value)}`)
          .join(' ');
        const result = await act(
          `Running ${run.solution.name} ${run.workflow} again: ${shown || '(defaults)'}…`,
          () => post<IRerun>('run', { path: run.notebook }),
          rerun =>
            `run ${rerun.run_id} ${rerun.status} in ${rerun.duration_s.toFixed(1)} s (again of ${rerun.rerun_of})`,
          rerun => [
            { label: 'Open', callback: () => void commands.execute(RUN_COMMANDS.open, { run_id: rerun.run_id }) },
          ],
        );
        sidebar.rerun = result ?? new Error(`run ${run.run_id}: the rerun failed (see the notification)`);
      },
    });

    if (palette) {
      palette.addItem({ command: RUN_COMMANDS.rerun, category: 'Reef' });
      for (const command of Object.values(COMMANDS)) {
        palette.addItem({ command, category: 'Reef' });
      }
    }
  },
};

export default plugin;
