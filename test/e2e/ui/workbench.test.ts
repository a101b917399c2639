// UI tests: the workbench in Chromium opens the git workspace with Lockstep loaded from the working tree.
import * as assert from 'node:assert/strict';
import { eventually } from './page';
import { e2e } from './session';

describe('workbench', () => {
  it('opens the git workspace as an Extension Development Host', async () => {
    const { workbench, workspace } = e2e();
    // The title only says so when the page payload's extensionDevelopmentPath was accepted.
    const title = await eventually('a window title naming the workspace', async () => {
      const current = await workbench.title();
      return current.includes(workspace.name) ? current : undefined;
    });
    assert.match(title, /\[Extension Development Host\]/);
    await workbench.screenshot('workbench loaded');
  });

  it('shows the Lockstep log from the command palette', async () => {
    const { workbench } = e2e();
    await workbench.runCommand('Lockstep: Show Log');
    // Only the extension's own command handler, run in this page's extension host, can bring its channel up.
    await eventually('the Output view on the Lockstep channel', async () => ((await workbench.outputChannel()) === 'Lockstep' ? true : undefined));
    await workbench.screenshot('lockstep log');
  });
});
