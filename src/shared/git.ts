/**
 * @module shared/git
 * Pure helpers for `git clone`, shared by the Worker (validation at the edge, the
 * adapter's quoted command) and the runner (a job's first clone). No imports, so
 * Node can load it directly with type stripping.
 *
 * Safety rules: git always gets an argument array (quoted word by word by
 * src/shell.ts where it becomes a command line), options end with `--` before the
 * URL and directory, the URL's scheme is allow-listed, and credentials in a URL
 * never reach output or errors.
 */

/** Why a repository URL was refused; the message never contains credentials. */
export class RepoUrlError extends Error {}

/** Schemes git may use when none are configured. */
export const DEFAULT_CLONE_SCHEMES = ["https"] as const;

/** Parse and check a repository URL against allowed schemes (e.g. ["https"]). */
export function checkRepoUrl(repoUrl: string, allowedSchemes: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(repoUrl);
  } catch {
    throw new RepoUrlError("repoUrl is not a valid absolute URL");
  }
  // Schemes are case-insensitive (RFC 3986 §3.1): "HTTPS://" is https, whatever case the list uses.
  const scheme = url.protocol.replace(/:$/, "").toLowerCase();
  if (!allowedSchemes.some((allowed) => allowed.toLowerCase() === scheme)) {
    throw new RepoUrlError(`repoUrl scheme "${scheme}" is not allowed; allowed: ${allowedSchemes.join(", ")}`);
  }
  if (!url.hostname) throw new RepoUrlError("repoUrl has no host");
  // git's transport helpers treat "::" specially ("ext::sh -c …"); refuse anything like it.
  if (/\s|::/.test(repoUrl)) throw new RepoUrlError("repoUrl must not contain whitespace or '::'");
  return url;
}

/**
 * The URL with its scheme in lower case and nothing else changed. git picks its transport
 * from the scheme case-sensitively ("HTTPS://…" looks for a `git-remote-HTTPS` helper).
 */
export function normalizeScheme(repoUrl: string): string {
  return repoUrl.replace(/^[A-Za-z][A-Za-z0-9+.-]*:/, (scheme) => scheme.toLowerCase());
}

/** The URL with user and password replaced by "***" (for output and errors). */
export function redactUrl(repoUrl: string): string {
  try {
    const url = new URL(repoUrl);
    if (!url.username && !url.password) return repoUrl;
    url.username = "***";
    url.password = "";
    return url.toString();
  } catch {
    return repoUrl.replace(/\/\/[^/@\s]*@/g, "//***@");
  }
}

/** Credentials shorter than this are only redacted where they appear inside a URL. */
const MIN_SECRET_LENGTH = 4;

/** Replace every credential-bearing form of `repoUrl` in `text` with its redacted form. */
export function redactText(text: string, repoUrl: string): string {
  let out = text;
  try {
    const url = new URL(repoUrl);
    for (const secret of [
      url.username,
      url.password,
      decodeURIComponent(url.username),
      decodeURIComponent(url.password),
    ]) {
      // Shorter strings are not secrets worth garbling every message for ("u" in "found");
      // the URL form below is redacted whatever its length.
      if (secret.length >= MIN_SECRET_LENGTH) out = out.split(secret).join("***");
    }
  } catch {
    // Not a URL: nothing to redact beyond the generic pattern below.
  }
  return out.replace(/(\w+:\/\/)[^/@\s]+@/g, "$1***@");
}

/** A branch or tag name git accepts, and nothing that could read as an option. */
export function isSafeRefName(ref: string): boolean {
  return (
    /^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$/.test(ref) &&
    !ref.includes("..") &&
    !ref.endsWith(".lock") &&
    !ref.endsWith("/")
  );
}

export interface CloneArgs {
  repoUrl: string;
  directory: string;
  branch?: string;
  depth?: number;
}

/** The argv of `git clone` (without the leading "git"). */
export function cloneArgv({ repoUrl, directory, branch, depth }: CloneArgs): string[] {
  const argv = ["-c", "protocol.file.allow=never", "-c", "core.hooksPath=/dev/null", "clone", "--quiet"];
  if (branch !== undefined) {
    if (!isSafeRefName(branch)) throw new RepoUrlError("branch is not a valid ref name");
    argv.push("--branch", branch);
  }
  if (depth !== undefined) argv.push("--depth", String(Math.trunc(depth)));
  argv.push("--", normalizeScheme(repoUrl), directory);
  return argv;
}
