/**
 * The reefnb server extension's REST API (reefnb/frontends/server.py), under `reef/api/`.
 * Every call carries JupyterLab's credentials; a refused request throws a one-line message.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface ISchemaProperty {
  type?: string;
  enum?: Array<string | number | boolean>;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
}

export interface INotebookInfo {
  path: string;
  solution: {
    name: string;
    version: string;
    description: string;
    folder: string;
    manifest: string | null;
    workflows: string[];
  };
  workflow: string | null;
  parameters: { title?: string; properties: { [name: string]: ISchemaProperty } };
}

export interface IRequirement {
  kind: string;
  name: string;
  required: string;
  found: string | null;
  status: string;
  reason: string;
}

/** Where a solution runs by default (commands.run_place): its own environment once made, else its notebook's kernel. */
export interface IPlace {
  kind: string; // "environment" | "kernel"
  name: string;
  kernel: string;
  python: string | null;
  why: string;
  label: string; // "kernel python3", "environment NAME"
}

/** What the Install button (reef init) would change, said before it does. */
export interface IInstallEffect {
  label: string; // the button's words
  changes: string[];
  refusal: string | null;
}

export interface IRequirements {
  solution: string;
  place: IPlace;
  summary: string; // "checked against kernel python3: all found"
  requirements: IRequirement[];
  install: IInstallEffect | null; // null: no solution.json runs the notebook
  unmet: number;
  installable: boolean;
}

export interface IRun {
  run_id: string;
  workflow: string;
  status: string;
  started: string;
  duration_s: number;
  parameters: { [name: string]: unknown };
  metrics: { [name: string]: { value: unknown; unit: string | null } };
  error: string | null;
  output: string | null;
  system: string | null; // telemetry: peak RSS, CPU, I/O, energy, GPU (one line)
  files: IAttachedFile[]; // the files the run attached (reefnb.attach), kept in runs/RUN_ID/files/
  files_refused: string[]; // one line each: a file attached but not kept, and why
}

export interface IAttachedFile {
  name: string;
  details: string; // size, media type, sha256 (as `reef run` prints them)
  path: string | null; // relative to the server's root when the file is under it (JupyterLab can open it)
}

export interface IExport {
  package: string;
  sha256: string;
  solution: string;
  members: number;
  runs: number;
  expected: number;
}

export interface IDashboard {
  solution: string;
  runs: number;
  html: string;
}

export interface IInstall {
  solution: string;
  environment: string | null;
  kernel: string | null;
  path: string;
}

/** The URL of an endpoint, with query arguments. */
export function apiUrl(endpoint: string, query: { [key: string]: string } = {}): string {
  const settings = ServerConnection.makeSettings();
  const search = new URLSearchParams(query).toString();
  return URLExt.join(settings.baseUrl, 'reef/api', endpoint) + (search ? `?${search}` : '');
}

/** The download URL of a file under the server's root (jupyter_server's /files handler). */
export function downloadUrl(path: string): string {
  const settings = ServerConnection.makeSettings();
  return URLExt.join(settings.baseUrl, 'files', URLExt.encodeParts(path)) + '?download=1';
}

async function request(
  endpoint: string,
  init: RequestInit = {},
  query: { [key: string]: string } = {},
): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(apiUrl(endpoint, query), init, settings);
  } catch (error) {
    throw new Error(`reef: the server cannot be reached: ${String(error)}`, { cause: error });
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const data = (await response.json()) as { message?: string };
      message = data.message || message;
    } catch {
      // not JSON: keep the status line
    }
    if (response.status === 404 && message.startsWith('404')) {
      message = 'reef: the reefnb server extension is not enabled (pip install reefnb, then restart jupyter lab)';
    }
    throw new Error(message);
  }
  return response;
}

export async function get<T>(endpoint: string, path: string): Promise<T> {
  return (await request(endpoint, { method: 'GET' }, { path })).json() as Promise<T>;
}

/** GET with query arguments other than a notebook's path (`run?run_id=ID`). */
export async function getWith<T>(endpoint: string, query: { [key: string]: string }): Promise<T> {
  return (await request(endpoint, { method: 'GET' }, query)).json() as Promise<T>;
}

export async function post<T>(endpoint: string, body: { [key: string]: unknown }): Promise<T> {
  return (await request(endpoint, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<T>;
}
