// `lockstep guard --agent claude|cursor|copilot`: an agent's pre-command hook (src/cli/guard/run.ts; the installed hooks run the same code as dist/guard.js).

export { runGuard as run } from '../guard/run';
