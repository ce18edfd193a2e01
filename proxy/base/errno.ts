/**
 * strerror(3)-style text for Node system errors, so log lines read like
 * Postfix's (`connect to ...: Connection refused`).
 */

const TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  ELOOP: 'Too many levels of symbolic links',
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  EPIPE: 'Broken pipe',
  ENOTFOUND: 'Host not found',
  EAI_AGAIN: 'Host not found, try again',
  EMFILE: 'Too many open files',
};

export function strerror(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code && TEXT[code]) return TEXT[code]!;
  if (e instanceof Error) return e.message;
  return String(e);
}
