// Putting text from git, Postgres and people into Markdown (tooltips, the restore preview) without it turning into markup.

export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~]/g, '\\$&');
}
