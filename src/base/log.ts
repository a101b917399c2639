// The logging seam: the core logs through this; the CLI writes to stderr, the extension to its output channel.

export interface Log {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLog: Log = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** A child log whose lines start with `[component]`. */
export function scopedLog(log: Log, component: string): Log {
  const prefix = `[${component}] `;
  return {
    trace: (m) => log.trace(prefix + m),
    debug: (m) => log.debug(prefix + m),
    info: (m) => log.info(prefix + m),
    warn: (m) => log.warn(prefix + m),
    error: (m) => log.error(prefix + m),
  };
}

/** The password of a connection string, to hand to `redact` (undefined when it has none or is not a URL). */
export function passwordOf(connectionString: string): string | undefined {
  try {
    const password = new URL(connectionString).password;
    return password ? decodeURIComponent(password) : undefined;
  } catch {
    return undefined;
  }
}

/** Removes passwords from connection strings and API keys from text before it is logged or shown. */
export function redact(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text.replace(/(postgres(?:ql)?:\/\/[^:/@\s]+:)[^@\s]+@/gi, '$1****@');
  out = out.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]+/g, '$1****');
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join('****');
  }
  return out;
}
