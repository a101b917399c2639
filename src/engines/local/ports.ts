// Ports on 127.0.0.1: whether one is free, who holds it, and one the kernel picks (set-up and the test harnesses).

import * as fs from 'node:fs';
import * as net from 'node:net';
import { LockstepError } from '../../base/errors';

export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(true));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(false)));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A program listening on a port: its pid and command line. */
export interface PortHolder {
  pid: number;
  command: string;
}

/**
 * Who listens on `port` (any local address), as far as this user can see:
 * the kernel's socket tables (/proc/net/tcp, tcp6) give the listening
 * sockets' inodes, and /proc/<pid>/fd the processes holding them. Linux only;
 * another user's process is visible to root alone. Empty when nothing is seen.
 */
export function portHolders(port: number): PortHolder[] {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (!local || fields[3] !== '0A') continue; // 0A: LISTEN
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port && fields[9] && fields[9] !== '0') inodes.add(fields[9]);
    }
  }
  if (inodes.size === 0) return [];
  const holders: PortHolder[] = [];
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to look into
    }
    const holds = fds.some((fd) => {
      try {
        const target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
        return target.startsWith('socket:[') && inodes.has(target.slice(8, -1));
      } catch {
        return false;
      }
    });
    if (holds) holders.push({ pid: Number(pid), command: commandOf(pid) });
  }
  return holders;
}

/** "node /tmp/squat.js (pid 1234)", or undefined when the holder cannot be seen. */
export function describePortHolder(port: number): string | undefined {
  const holders = portHolders(port);
  if (holders.length === 0) return undefined;
  return holders.map((h) => `${h.command} (pid ${h.pid})`).join(', ');
}

function commandOf(pid: string): string {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    if (argv.length > 0) {
      const line = argv.join(' ');
      return line.length > 200 ? `${line.slice(0, 197)}...` : line;
    }
  } catch {
    // fall through to the short name
  }
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return 'unknown program';
  }
}

/** Another program holds the port: say which, when this user can see it. */
export function portTakenError(port: number, hint = 'Stop that program, or give Lockstep another port: `lockstep init --port N` (the connection string will change once).'): LockstepError {
  const holder = describePortHolder(port);
  return new LockstepError('PORT_TAKEN', `port ${port} on 127.0.0.1 is used by another program${holder ? `: ${holder}` : ''}`, { hint });
}
