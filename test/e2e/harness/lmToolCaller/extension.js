// A second extension, as any other extension may be: it calls a language-model tool through vscode.lm.invokeTool from
// outside a chat (no toolInvocationToken), which is the path where no chat confirmation happens. The UI tests run it
// from the command palette; each result goes to a notification and to LOCKSTEP_TEST_RUN_DIR/lm-tool-calls.jsonl.
const fs = require('node:fs');
const path = require('node:path');
const vscode = require('vscode');

function record(entry) {
  const dir = process.env.LOCKSTEP_TEST_RUN_DIR;
  if (dir) fs.appendFileSync(path.join(dir, 'lm-tool-calls.jsonl'), `${JSON.stringify(entry)}\n`);
}

exports.activate = function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('lockstepE2e.invokeTool', async () => {
      const call = await vscode.window.showInputBox({ title: 'Invoke a language-model tool', prompt: 'NAME {JSON input}, e.g. lockstep_list {"limit": 5}' });
      if (!call) return;
      const [name, ...rest] = call.trim().split(' ');
      const json = rest.join(' ') || '{}';
      try {
        const result = await vscode.lm.invokeTool(name, { input: JSON.parse(json), toolInvocationToken: undefined });
        const text = result.content.map((part) => (part instanceof vscode.LanguageModelTextPart ? part.value : JSON.stringify(part))).join('\n');
        record({ name, input: json, ok: true, text });
        void vscode.window.showInformationMessage(`Tool ${name} answered: ${text.split('\n')[0]}`);
      } catch (error) {
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        record({ name, input: json, ok: false, error: message });
        void vscode.window.showErrorMessage(`Tool ${name} failed: ${message}`);
      }
    }),
  );
};
