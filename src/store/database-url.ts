import { statSync } from 'node:fs';
import { dirname } from 'node:path';

/** Where the store lives when DATABASE_URL is unset. Its folder is the only one Herald makes itself. */
export const DEFAULT_DATABASE_URL = 'sqlite:./data/herald.db';

/** The forms DATABASE_URL accepts, as every refusal lists them. */
export const DATABASE_URL_FORMS =
  'postgres://user:password@host:5432/database (or postgresql://), sqlite:<path>, a file path with a / in it (./herald.db), or :memory:';

/** Which database a DATABASE_URL names. */
export type DatabaseTarget =
  | {
      readonly kind: 'sqlite';
      /** A file path, or `:memory:`. */
      readonly path: string;
      /** Only for the default location: a fresh clone has no `./data/` yet. Any other path's folder must exist. */
      readonly makeFolder: boolean;
    }
  | { readonly kind: 'postgres'; readonly url: string };

/**
 * DATABASE_URL → the database it names, or why it names none. Only the form is checked (and, for
 * a SQLite file, that its folder exists); whether a server answers, the store finds out at start.
 *
 * Strict on purpose: a typo that fell through to "some SQLite file" would give one instance of a
 * cluster a private store of its own. So a value with a scheme (`mysql://`, `postgress://`,
 * `file:`) must name a known one, and a bare value must look like a path (contain a `/`), so that
 * a word such as `foo` or a host name is not taken for a file in the working directory.
 * Problems never echo the value: it may carry a password.
 */
export function parseDatabaseUrl(raw: string): { target: DatabaseTarget } | { problem: string } {
  const refuse = (why: string) => ({ problem: `DATABASE_URL: ${why}; accepted forms: ${DATABASE_URL_FORMS}` });

  if (/^postgres(ql)?:/i.test(raw)) {
    if (/^postgres(ql)?:\/\//i.test(raw) && URL.canParse(raw)) return { target: { kind: 'postgres', url: raw } };
    return refuse('not a valid PostgreSQL URL; expected postgres://user:password@host:5432/database (percent-encode special characters)');
  }
  if (raw === ':memory:' || /^sqlite::memory:$/i.test(raw)) return { target: { kind: 'sqlite', path: ':memory:', makeFolder: false } };

  let path: string;
  if (/^sqlite:/i.test(raw)) {
    // `sqlite://` too: `sqlite:///var/lib/h.db` and `sqlite://./h.db` are common spellings elsewhere.
    path = raw.replace(/^sqlite:(\/\/)?/i, '');
    if (path === '') return refuse('sqlite: needs a file path after it');
  } else {
    // Two letters or more before the colon: `c:\...` stays a Windows path.
    const scheme = /^([a-z][a-z0-9+.-]+):/i.exec(raw)?.[1];
    if (scheme !== undefined) return refuse(`unknown scheme "${scheme.toLowerCase()}:"`);
    if (!/[/\\]/.test(raw)) return refuse('a bare word is not taken for a file name; write ./<name> for a file in the working directory');
    path = raw;
  }
  const makeFolder = raw === DEFAULT_DATABASE_URL;
  if (!makeFolder) {
    const folder = dirname(path);
    if (!isDirectory(folder)) return refuse(`the SQLite file's folder "${folder}" does not exist (Herald creates the file, not its folder)`);
    if (isDirectory(path)) return refuse(`"${path}" is a folder, not a SQLite file`);
  }
  return { target: { kind: 'sqlite', path, makeFolder } };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
