/**
 * Configuration errors. The message is the whole diagnostic, already in
 * Postfix's shape (`/etc/postfix/main.cf, line 3: missing '=' after
 * attribute name: "foo"`), so callers print it after `fatal: ` unchanged.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
