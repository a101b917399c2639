// `npm run bench`: every benchmark in one run, printed as a table and written to bench/RESULTS.md.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { benchGuard } from './agents';
import { benchEngine } from './engine';
import { benchHook } from './hook';
import { benchMcp } from './mcp';
import { benchPreview } from './preview';
import type { BenchRow } from './types';
import { benchWorkload } from './workload';

interface Section {
  title: string;
  command: string;
  rows: BenchRow[];
  /** Markdown after the table. */
  detail?: string;
}

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const sizes = args.find((a) => a.startsWith('--sizes='))?.slice('--sizes='.length).split(',').map(Number);
const repeats = args.find((a) => a.startsWith('--repeats='))?.slice('--repeats='.length);
const baseline = args.find((a) => a.startsWith('--baseline='))?.slice('--baseline='.length) ?? '5557808';
const candidate = args.find((a) => a.startsWith('--candidate='))?.slice('--candidate='.length) ?? 'HEAD';
const log = (line: string) => process.stderr.write(`${line}\n`);

function table(rows: readonly BenchRow[]): string {
  const lines = ['| measurement | result | target | met |', '| --- | --- | --- | --- |'];
  for (const r of rows) {
    lines.push(`| ${r.name}${r.note ? ` (${r.note})` : ''} | ${r.value} | ${r.target || '—'} | ${r.met === null ? '' : r.met ? 'yes' : '**no**'} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const started = Date.now();
  const sections: Section[] = [];
  const wanted = (name: string) => !only || only.includes(name);

  if (wanted('engine')) {
    log('engine: markers and restores (local engine, real Postgres)');
    const sizesMb = sizes ?? (quick ? [20, 200] : [20, 200, 1000]);
    sections.push({ title: 'Local engine: markers and restores', command: `npm run bench -- --only=engine${quick ? ' --quick' : ''}`, rows: await benchEngine({ sizesMb, repeats: quick ? 2 : 3, markers: quick ? 50 : 200, log }) });
  }
  if (only?.includes('workload')) {
    // Not part of a plain `npm run bench`: 1 GB pgbench clusters for two designs take most of half an hour.
    log(`workload: pgbench, 50,000-row UPDATEs between checkpoints, through the CLI; ${candidate} beside ${baseline}`);
    const result = await benchWorkload({ sizesMb: sizes ?? [20, 200, 1000], repeats: repeats ? Number(repeats) : 3, baseline, candidate, log });
    const command = ['npm run bench --', ...args].join(' ');
    const section: Section = { title: 'The workload a user has: pgbench, 50,000-row UPDATEs between checkpoints, through the CLI, old and new side by side', command, rows: result.rows, detail: result.detail };
    sections.push(section);
  }
  if (only?.includes('preview')) {
    // Not part of a plain `npm run bench`: a 1 GB pgbench cluster and a dozen restores.
    log('preview: the palette flow (preview, then restore) beside a restore without a preview; the diff of a 1 GB table');
    const result = await benchPreview({ sizesMb: sizes ?? [20, 200, 1000], repeats: repeats ? Number(repeats) : 3, log });
    sections.push({ title: 'Previews and restores: the palette flow, and the row diff', command: ['npm run bench --', ...args].join(' '), rows: result.rows, detail: result.detail });
  }
  if (wanted('hook')) {
    log('hook: git commit, list, disk');
    sections.push({ title: 'Checkpoints: the hook, list, disk', command: 'npm run bench -- --only=hook', rows: await benchHook({ commits: quick ? 11 : 21, log }) });
  }
  if (wanted('guard')) {
    log('guard: a safety point through `lockstep guard`, the whole process, beside node -e 0');
    sections.push({ title: 'Agents: a safety point through `lockstep guard`', command: 'npm run bench -- --only=guard', rows: await benchGuard({ runs: quick ? 11 : 21, log }) });
  }
  if (wanted('mcp')) {
    log('mcp: a safety point through an open MCP session');
    sections.push({ title: 'Agents: a safety point through an open MCP session', command: 'npm run bench -- --only=mcp', rows: await benchMcp({ calls: quick ? 21 : 51, log }) });
  }
  if (wanted('vscode')) {
    const file = path.join(__dirname, 'vscode.ts');
    if (fs.existsSync(file)) {
      log('vscode: activation, tree, package');
      const { benchVscode } = (await import(file)) as { benchVscode: () => Promise<BenchRow[]> };
      sections.push({ title: 'VS Code extension', command: 'npm run bench -- --only=vscode', rows: await benchVscode() });
    }
  }

  const cpus = os.cpus();
  const header = [
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus.length} × ${cpus[0]?.model.trim() ?? 'CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, in ${Math.round((Date.now() - started) / 1000)} s.`,
    'Medians; ratios are taken within one run, side by side. The machine is shared: absolute times vary from run to run, ratios less.',
  ].join('\n');
  const render = (list: Section[]) => list.map((s) => `### ${s.title}\n\n\`${s.command}\`\n\n${table(s.rows)}${s.detail ? `\n\n${s.detail}` : ''}`);
  const report = [header, ...render(sections)].join('\n\n');
  process.stdout.write(`\n${report}\n`);
  if (!only && !quick && !sizes) fs.writeFileSync(path.join(__dirname, 'RESULTS.md'), `# Benchmark results\n\n\`npm run bench\`\n\n${report}\n`);
  // The workload's and the preview's figures are kept beside the others: appended, with the command that produced them.
  const workload = sections.filter((s) => s.command.includes('--only=workload') || s.command.includes('--only=preview'));
  if (only && workload.length > 0) fs.appendFileSync(path.join(__dirname, 'RESULTS.md'), `\n${[header, ...render(workload)].join('\n\n')}\n`);
}

main().catch((error: unknown) => {
  log(`bench failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});
