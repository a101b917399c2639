// Entry point of the VS Code extension.

export function activate(): void {}

export function deactivate(): void {}
