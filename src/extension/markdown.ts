// Putting text from git, Postgres and people into Markdown (tooltips, the restore preview) without it turning into markup.

/** Markup characters escaped, and `&` (an entity such as `&#x202e;` would render a right-to-left override) and `$` (`$(icon)` syntax) with them. Control characters are displayText's job. */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~&$]/g, '\\$&');
}
