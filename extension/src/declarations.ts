/**
 * Declarations into the open notebook: `%reef require/tool/artifact` in a kernel of a notebook panel
 * change the panel's own model (its `metadata.reef`), so the declaration is saved with the notebook
 * and the file is never rewritten under the editor.
 *
 * The kernel (reefnb.frontends.lab_editor) opens a comm to the target `reef.notebook` for each declaration, with
 * a JSON merge patch (RFC 7386) of `metadata.reef`; the panel applies it and answers `applied` (ok or
 * not: then the kernel writes the file instead).
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage } from '@jupyterlab/services';

export const TARGET = 'reef.notebook';
const METADATA_KEY = 'reef';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

type DeclaredListener = (path: string, reef: Json) => void;
const listeners = new Set<DeclaredListener>();

/** Call `listener(path, metadata.reef)` after each declaration applied to an open notebook's model (the sidebar
 * checks the requirements again, with the model's declarations: the file is not saved yet). */
export function onDeclared(listener: DeclaredListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function isObject(value: unknown): value is { [key: string]: Json } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** `target` with the JSON merge patch `patch` applied (RFC 7386: objects merge, null deletes). */
export function applyMergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) {
    return patch;
  }
  const result: { [key: string]: Json } = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else {
      result[key] = applyMergePatch(result[key], value);
    }
  }
  return result;
}

/** Whether the kernel's notebook path (absolute, from JPY_SESSION_NAME) is this panel's (relative to the server root). */
function isPanelPath(panel: NotebookPanel, kernelPath: unknown): boolean {
  const path = panel.context.path;
  return typeof kernelPath !== 'string' || kernelPath === path || kernelPath.endsWith(`/${path}`);
}

function answer(panel: NotebookPanel, comm: Kernel.IComm, message: KernelMessage.ICommOpenMsg): void {
  const data = message.content.data;
  const path = panel.context.path;
  const mine = isPanelPath(panel, data.path) && panel.model !== null;
  if (data.kind === 'declare') {
    if (mine) {
      const model = panel.model;
      const after = applyMergePatch((model.getMetadata(METADATA_KEY) ?? {}) as Json, data.patch ?? {});
      if (isObject(after) && Object.keys(after).length > 0) {
        model.setMetadata(METADATA_KEY, after);
      } else {
        model.deleteMetadata(METADATA_KEY);
      }
      listeners.forEach(listener => listener(path, isObject(after) ? after : {}));
    }
    comm.send({ kind: 'applied', ok: mine, path, ...(mine ? {} : { reason: `${path} is not the kernel's notebook` }) });
  }
  comm.close();
}

/** Register the `reef.notebook` comm target on the kernel of every notebook panel, now and after kernel changes. */
export function followDeclarations(notebooks: INotebookTracker): void {
  const attach = (panel: NotebookPanel) => {
    const register = () => {
      const kernel = panel.sessionContext.session?.kernel;
      kernel?.registerCommTarget(TARGET, (comm, message) => answer(panel, comm, message));
    };
    panel.sessionContext.kernelChanged.connect(register);
    void panel.sessionContext.ready.then(register);
  };
  notebooks.forEach(attach);
  notebooks.widgetAdded.connect((_, panel) => attach(panel));
}
