/**
 * @module shell
 * Quoting for the command lines the Worker hands a sandbox's shell (the adapter's
 * wrapped commands, the runner's command line). Every word is strictly
 * single-quoted, so nothing in it is expanded.
 */

/** Quote one argument for a POSIX shell: single quotes, embedded quotes escaped. */
export function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A shell command line for argv, every word single-quoted. */
export function shellCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}
