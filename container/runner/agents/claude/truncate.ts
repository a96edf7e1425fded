/**
 * @module runner/agents/claude/truncate
 * Cutting long text for the model and for job events: the head and the tail are
 * kept (a command's first lines say what it did, its last lines how it ended), with
 * a marker in between saying how much was left out.
 */

/** `text` if at most `max` characters, else its head and tail around a marker. */
export function headTail(text: string, max: number): string {
  if (text.length <= max) return text;
  const omitted = text.length - max;
  const marker = `\n[… ${omitted} characters truncated …]\n`;
  const keep = Math.max(0, max - marker.length);
  const head = Math.ceil(keep / 2);
  return `${text.slice(0, head)}${marker}${text.slice(text.length - (keep - head))}`;
}

/** One-line preview for events: whitespace collapsed, cut at `max` characters. */
export function preview(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
