// The webviews' HTML shell: data carried inside the page cannot break out of its element, whatever text it holds.
import * as assert from 'node:assert/strict';
import { jsonData, page } from '../../src/extension/views/webviewPage';

describe('webview page: data inside the page', () => {
  const hostile = ['</script><script>alert(1)</script>', '<!-- <script>', '</SCRIPT >', 'a\u2028b\u2029c', '"\'&<>', '\u0000\u001b[31m'];

  it('keeps hostile text inside its JSON element, and gives it back whole', () => {
    const value = { labels: hostile, nested: { title: hostile.join(' ') } };
    const html = jsonData('first-rows', value);
    assert.match(html, /^<script type="application\/json" id="first-rows">/);
    assert.ok(html.endsWith('</script>'));
    const inner = html.slice(html.indexOf('>') + 1, -'</script>'.length);
    assert.ok(!inner.includes('<'), `a "<" left unescaped: ${inner}`);
    assert.deepEqual(JSON.parse(inner), value);
  });

  it('in a whole page, the only script that runs is the nonce one', () => {
    const html = page({ cspSource: 'vscode-resource:', title: 't', body: jsonData('d', { label: '</script><script>alert(1)</script>' }), script: 'void 0', view: 'v' });
    const scripts = [...html.matchAll(/<script\b[^>]*>/gi)].map((m) => m[0]);
    assert.equal(scripts.length, 2, scripts.join(' '));
    assert.match(scripts[0]!, /type="application\/json"/);
    assert.match(scripts[1]!, /nonce="/);
  });
});
