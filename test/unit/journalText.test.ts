// Journal text from agents and git: which labels are refused (and how that is said), and how any journal text is printed on one line.
import * as assert from 'node:assert/strict';
import type { Checkpoint } from '../../src/core/checkpoint';
import { isLockstepError, exitCodeFor } from '../../src/base/errors';
import { checkLabel, displayText, displayTitle, labelProblem, MAX_DISPLAY_LENGTH, MAX_LABEL_LENGTH } from '../../src/core/journalText';
import { escapeMarkdown } from '../../src/extension/markdown';

/** Control, direction and invisible characters a label must not hold, with the name the refusal gives. */
const FORGERS: [string, string, RegExp][] = [
  ['\n', 'a newline', /U\+000A \(a newline\)/],
  ['\r', 'a carriage return', /U\+000D/],
  ['\t', 'a tab', /U\+0009 \(a tab\)/],
  ['\x1b', 'ESC', /U\+001B \(ESC, an escape\)/],
  ['\x07', 'BEL', /U\+0007 \(BEL/],
  ['\x00', 'NUL', /U\+0000/],
  ['\x7f', 'DEL', /U\+007F \(DEL\)/],
  ['\x9b', 'C1 CSI', /U\+009B/],
  ['\x85', 'C1 next line', /U\+0085 \(a control character\)/],
  ['\u202a', 'LRE', /U\+202A/],
  ['\u202b', 'RLE', /U\+202B/],
  ['\u202c', 'PDF', /U\+202C/],
  ['\u202d', 'LRO', /U\+202D/],
  ['\u202e', 'RLO', /U\+202E \(a right-to-left override\)/],
  ['\u2066', 'LRI', /U\+2066/],
  ['\u2067', 'RLI', /U\+2067/],
  ['\u2068', 'FSI', /U\+2068/],
  ['\u2069', 'PDI', /U\+2069/],
  ['\u200e', 'LRM', /U\+200E \(the left-to-right mark\)/],
  ['\u200f', 'RLM', /U\+200F/],
  ['\u061c', 'ALM', /U\+061C/],
  ['\u200b', 'zero-width space', /U\+200B/],
  ['\u2060', 'word joiner', /U\+2060/],
  ['\ufeff', 'BOM', /U\+FEFF/],
  ['\u2028', 'line separator', /U\+2028/],
  ['\u2029', 'paragraph separator', /U\+2029/],
  ['\u{e0041}', 'a tag character', /U\+E0041/],
];

describe('labels (checkLabel, labelProblem)', () => {
  for (const [char, what, named] of FORGERS) {
    it(`refuses ${what}, naming the character and its position`, () => {
      const label = `ab${char}cd`;
      const problem = labelProblem(label);
      assert.ok(problem, `${what} is refused`);
      assert.match(problem, named);
      assert.match(problem, /at position 3\b/);
      assert.throws(
        () => checkLabel(label),
        (error: unknown) => isLockstepError(error, 'BAD_INPUT') && exitCodeFor(error) === 2 && named.test(error.message),
      );
    });
  }

  it('counts positions in characters, not UTF-16 units (an emoji before the character counts once)', () => {
    assert.match(labelProblem('😀x\x1b')!, /at position 3\b/);
  });

  it('refuses the forged `lockstep list` row of issue 9', () => {
    assert.match(labelProblem('x\n*  000000000000  commit 0000000  1@0/0  just now  fake')!, /U\+000A \(a newline\) at position 2/);
  });

  it(`refuses more than ${MAX_LABEL_LENGTH} characters, saying how long it is`, () => {
    assert.equal(labelProblem('a'.repeat(MAX_LABEL_LENGTH)), undefined);
    assert.equal(labelProblem('😀'.repeat(MAX_LABEL_LENGTH)), undefined, 'characters, not UTF-16 units');
    assert.match(labelProblem('a'.repeat(MAX_LABEL_LENGTH + 1))!, /201 characters long; at most 200/);
    assert.throws(() => checkLabel('x'.repeat(100 * 1024)), (error: unknown) => isLockstepError(error, 'BAD_INPUT') && /102400 characters long/.test(error.message));
  });

  it('keeps ordinary text: accents, CJK, Arabic, emoji with joiners, quotes, backslashes', () => {
    for (const label of ['before the seed script', 'café — ünïcode', '迁移之前', 'قبل الترحيل', '👩‍👩‍👧 family', 'it\'s "quoted" \\ fine', 'نیم‌فاصله']) {
      assert.equal(labelProblem(label), undefined, label);
      assert.equal(checkLabel(label), label);
    }
  });

  it('trims, and makes an empty or absent label null', () => {
    assert.equal(checkLabel('  spaced  '), 'spaced');
    assert.equal(checkLabel('   '), null);
    assert.equal(checkLabel(''), null);
    assert.equal(checkLabel(null), null);
    assert.equal(checkLabel(undefined), null);
  });
});

describe('displayText', () => {
  it('leaves ordinary text as it is', () => {
    assert.equal(displayText('v3: tags'), 'v3: tags');
    assert.equal(displayText('迁移 👩‍👩‍👧 café'), '迁移 👩‍👩‍👧 café');
    assert.equal(displayText(null), '');
    assert.equal(displayText(undefined), '');
  });

  it('shows control and direction characters as visible escapes, so the text stays on one line', () => {
    assert.equal(displayText('a\x1b[31mred\x07\nb\tc\x7f\x9b'), 'a\\x1b[31mred\\x07\\x0ab\\x09c\\x7f\\x9b');
    assert.equal(displayText('abc\u202edef\u2066\u200f'), 'abc\\u202edef\\u2066\\u200f');
    assert.equal(displayText('tag\u{e0041}'), 'tag\\u{e0041}');
    assert.equal(displayText('lone \ud800 half'), 'lone \\ud800 half');
    for (const [char] of FORGERS) assert.doesNotMatch(displayText(`x${char}y`), /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200e\u200f]/);
  });

  it(`cuts at ${MAX_DISPLAY_LENGTH} characters, the last one "…"`, () => {
    assert.equal(displayText('a'.repeat(MAX_DISPLAY_LENGTH)), 'a'.repeat(MAX_DISPLAY_LENGTH));
    const cut = displayText('a'.repeat(100 * 1024));
    assert.equal([...cut].length, MAX_DISPLAY_LENGTH);
    assert.ok(cut.endsWith('…'));
    assert.equal(displayText('abcdef', 4), 'abc…');
    // Characters, not UTF-16 units: an emoji is never split in half.
    assert.equal(displayText('😀'.repeat(10), 4), '😀😀😀…');
  });

  it('never cuts through an escape it wrote', () => {
    // "ab" + "\x1b" is 6 characters; a cut at 5 would leave "ab\x1" — the escape goes whole.
    assert.equal(displayText('ab\x1bcdefgh', 5), 'ab…');
    assert.equal(displayText('ab\u202ecdefgh', 6), 'ab…');
    assert.equal(displayText('ab\u202ecdefgh', 9), 'ab\\u202e…');
  });

  it('displayTitle: the title a checkpoint shows, escaped', () => {
    const base = { id: 'abcdef123456', commitSha: '0'.repeat(40), branch: 'main', author: 'A', filesChanged: 1, createdAt: '2026-01-01T00:00:00.000Z', engine: 'local', timelineId: '1', lsn: '0/1' } as const;
    assert.equal(displayTitle({ ...base, kind: 'commit', subject: 'x\n*  fake', label: null } as Checkpoint), 'x\\x0a*  fake');
    assert.equal(displayTitle({ ...base, kind: 'snapshot', subject: null, label: null } as Checkpoint), 'Snapshot');
  });
});

describe('escapeMarkdown (tooltips)', () => {
  it('escapes markup, HTML entities and $(icon) syntax', () => {
    assert.equal(escapeMarkdown('**b** [l](u) <i> `c` &#x202e; $(bug)'), '\\*\\*b\\*\\* \\[l\\]\\(u\\) \\<i\\> \\`c\\` \\&\\#x202e; \\$\\(bug\\)');
  });
});
