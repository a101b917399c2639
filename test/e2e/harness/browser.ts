// Headless Debian Chromium driven by playwright-core: never a browser of playwright's own, and no traffic off the machine.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Without the background-networking flags Chromium keeps dialling Google's hosts, which this closed network refuses. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Browsers still open, so that an interrupted run can close them before it deletes their profiles. */
const open = new Set<BrowserContext>();
let closingAll = false;

/** A fresh browser with its own profile, home and TMPDIR (Chromium leaves dconf, caches and org.chromium.* folders behind otherwise). */
export async function launchChromium(dir: string): Promise<BrowserContext> {
  const home = path.join(dir, 'home');
  const tmp = path.join(dir, 'tmp');
  for (const folder of [home, tmp]) fs.mkdirSync(folder, { recursive: true });
  const context = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    // The harness's own signal handler closes browsers first, then the server, then deletes the run's folder.
    handleSIGINT: false,
    handleSIGTERM: false,
    viewport: { width: 1400, height: 900 },
    locale: 'en-US',
    env: {
      ...process.env,
      HOME: home,
      TMPDIR: tmp,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_CACHE_HOME: path.join(home, '.cache'),
    },
  });
  if (closingAll) {
    // Launched while the run was being interrupted: it must not outlive the cleanup.
    await context.close();
    throw new Error('the run was interrupted');
  }
  open.add(context);
  context.once('close', () => open.delete(context));
  return context;
}

/** Closes every browser and refuses new ones: for the end of a run, interrupted or not. */
export async function closeAllBrowsers(): Promise<void> {
  closingAll = true;
  await Promise.all([...open].map((context) => context.close().catch(() => undefined)));
}

export async function firstPage(context: BrowserContext): Promise<Page> {
  return context.pages()[0] ?? (await context.newPage());
}
