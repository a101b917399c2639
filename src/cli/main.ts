// Entry point of the `lockstep` CLI (and of the git hook, which runs `lockstep record`).

process.stdout.write('lockstep: not built yet\n');
