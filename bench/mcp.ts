// The MCP server's safety point: a `lockstep_snapshot` call through an open session (the SDK's client over stdio), idle and while an app writes.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { freePort, traversableTempDir } from '../test/support/postgres';
import { onOneConnection, query } from './engine';
import { median, ms, type BenchRow } from './types';

const CLI = path.resolve(__dirname, '..', 'dist', 'cli.js');

export interface McpBenchOptions {
  /** Calls measured in each condition. */
  calls: number;
  log: (line: string) => void;
}

export async function benchMcp(options: McpBenchOptions): Promise<BenchRow[]> {
  const dir = traversableTempDir('lockstep-bench-mcp-');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8' }).trim();
  let client: Client | undefined;
  try {
    git('init', '-q', '-b', 'main');
    git('config', 'user.name', 'Bench');
    git('config', 'user.email', 'bench@example.com');
    git('commit', '-q', '--allow-empty', '-m', 'root');
    // The default number of checkpoints kept: past it, each snapshot also prunes the oldest, as a user's would.
    execFileSync(process.execPath, [CLI, 'init', '--port', String(await freePort())], { cwd: dir, stdio: 'ignore' });
    const url = execFileSync(process.execPath, [CLI, 'db', 'url'], { cwd: dir, encoding: 'utf8' }).trim();

    client = new Client({ name: 'lockstep-bench', version: '1.0.0' });
    const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp'], cwd: dir, env, stderr: 'ignore' }));
    const snapshot = async (label: string): Promise<number> => {
      const t = performance.now();
      const result = (await client!.callTool({ name: 'lockstep_snapshot', arguments: { label } })) as CallToolResult;
      const took = performance.now() - t;
      if (result.isError) throw new Error(`lockstep_snapshot failed: ${JSON.stringify(result.content)}`);
      return took;
    };
    for (let i = 0; i < 5; i++) await snapshot(`warm-up ${i}`);

    const idle: number[] = [];
    for (let i = 0; i < options.calls; i++) idle.push(await snapshot(`idle ${i}`));

    // An app writing meanwhile: one INSERT at a time on its own connection, without pause.
    await query(url, 'CREATE TABLE IF NOT EXISTS bench_writes (id bigserial PRIMARY KEY, body text)');
    let writes = 0;
    const writer = onOneConnection(url, 0, async (c) => {
      await c.query("INSERT INTO bench_writes (body) VALUES (repeat('x', 200))");
      writes++;
    });
    const busy: number[] = [];
    try {
      await new Promise((r) => setTimeout(r, 200));
      for (let i = 0; i < options.calls; i++) busy.push(await snapshot(`busy ${i}`));
    } finally {
      await writer.stop();
    }
    options.log(`  lockstep_snapshot: idle ${ms(median(idle))} (max ${ms(Math.max(...idle))}), while writing ${ms(median(busy))} (max ${ms(Math.max(...busy))}, ${writes} INSERTs meanwhile)`);
    return [
      { name: `MCP lockstep_snapshot through an open session, idle (median of ${options.calls})`, value: ms(median(idle)), target: '≤ 20 ms', met: median(idle) <= 20, note: `p90 ${ms(percentile(idle, 0.9))}` },
      {
        name: `MCP lockstep_snapshot while an app INSERTs without pause (median of ${options.calls})`,
        value: ms(median(busy)),
        target: '≤ 20 ms',
        met: median(busy) <= 20,
        note: `p90 ${ms(percentile(busy, 0.9))}; ${writes} INSERTs meanwhile`,
      },
    ];
  } finally {
    await client?.close().catch(() => undefined);
    try {
      execFileSync(process.execPath, [CLI, 'db', 'stop'], { cwd: dir, stdio: 'ignore' });
    } catch {
      // best effort
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}
