/**
 * @module terminal/job-control
 * What the Worker types into a new terminal, and how it sees the shell end.
 *
 * The runtime (Bun 1.3's `Bun.Terminal`) spawns the shell on the PTY without making it a
 * session leader with the PTY as its controlling terminal: bash says "no job control",
 * Ctrl-C does not reach the foreground command, and programs that open /dev/tty (less,
 * vim, ssh) fail. Nor does it say when the shell exits (the socket stays open until the
 * next keystroke, then closes 1011). So once the runtime reports `ready`, the relay
 * types one line (leading space: kept out of history where ignorespace is set):
 * `setsid -c` gives a fresh bash its controlling terminal (no fork: the runtime's bash is
 * no process group leader, so the pid stays), `clear` wipes the line's echo, and when
 * that bash exits its parent prints a private OSC sequence with the exit status, which
 * the relay removes from the output and turns into the protocol's `exit` status. Where
 * `setsid` is missing, `exec` fails and the first shell carries on without job control.
 */

/** The private OSC sequence that reports the shell's exit: ESC ] 7770 ; exit=<code> BEL. */
const MARKER_PREFIX = "\u001b]7770;exit=";
const MARKER_END = 0x07;
const prefixBytes = new TextEncoder().encode(MARKER_PREFIX);

/** The line typed into a new terminal once the runtime is ready. */
export const JOB_CONTROL_LINE = ` exec setsid -c bash -c 'clear; bash; printf "\\033]7770;exit=%d\\a" "$?"'\n`;

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * Looks for the exit marker in a chunk of output: the output without it, and the exit
 * code when it was there (the marker is written in one `printf`, so it arrives whole).
 */
export function takeExitMarker(chunk: ArrayBuffer): { output: Uint8Array; exitCode: number | null } {
  const bytes = new Uint8Array(chunk);
  const start = indexOfBytes(bytes, prefixBytes);
  if (start < 0) return { output: bytes, exitCode: null };
  const end = bytes.indexOf(MARKER_END, start + prefixBytes.length);
  if (end < 0) return { output: bytes, exitCode: null };
  const digits = new TextDecoder().decode(bytes.subarray(start + prefixBytes.length, end));
  if (!/^[0-9]{1,3}$/.test(digits)) return { output: bytes, exitCode: null };
  const output = new Uint8Array(bytes.length - (end + 1 - start));
  output.set(bytes.subarray(0, start), 0);
  output.set(bytes.subarray(end + 1), start);
  return { output, exitCode: Number(digits) };
}
