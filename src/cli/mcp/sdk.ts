// The parts of the MCP SDK (and zod, its schema language) the server uses. esbuild builds this file as dist/vendor/mcp-sdk.js, loaded only by `lockstep mcp`.

import { array, boolean, enum as enumOf, number, object, string } from 'zod';

export { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
export { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

/** The schema builders the tools use, by name: re-exporting zod's namespace would bundle all of it (its 260 KB of locales included). */
export const z = { array, boolean, enum: enumOf, number, object, string };
