// UI tests of a multi-root workspace: each git folder its own Lockstep repository in the tree, plain folders left out.
import * as assert from 'node:assert/strict';
import { eventually } from './page';
import { e2e } from './session';

describe('multi-root workspace', () => {
  it('shows each git folder with its own set-up, and no status bar item while none is set up', async () => {
    const { workbench } = e2e();
    await e2e().openMultiRootWorkspace('multi-root', { repositories: ['api', 'web'], plain: ['notes'] });
    await workbench.openViewContainer('Lockstep');
    const setUp = ['Start a Local Database', 'Connect a Neon Project'];
    const rows = await eventually('a row per repository, each offering the set-up', async () => {
      const shown = await workbench.treeRows('Checkpoints');
      return shown.length === 6 ? shown : undefined;
    });
    assert.deepEqual(rows, ['api', ...setUp, 'web', ...setUp]);
    assert.deepEqual((await workbench.treeRowDescriptions('Checkpoints')).filter((d) => d !== ''), ['not set up', 'not set up']);
    assert.equal(await workbench.statusBarItem('Snapshot').count(), 0, 'the Snapshot item shows in repositories that are not set up');
    await workbench.screenshot('multi-root workspace');
  });
});
