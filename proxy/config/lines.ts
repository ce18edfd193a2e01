/**
 * Logical lines of Postfix configuration files (main.cf, master.cf), as
 * Postfix's readlline() assembles them:
 *
 *  - empty lines, whitespace-only lines and lines whose first non-blank
 *    character is `#` are ignored, also in the middle of a logical line;
 *  - a line that starts with whitespace continues the current logical line
 *    (the newline is dropped, the text is kept as it is);
 *  - a logical line starts with non-whitespace text; a continuation line
 *    with nothing to continue is reported and ignored.
 */

export interface LogicalLine {
  /** The assembled text, continuation lines appended without their newline. */
  readonly text: string;
  /** 1-based number of the physical line where the logical line starts. */
  readonly line: number;
}

export interface LogicalLines {
  readonly lines: LogicalLine[];
  /** Problems Postfix only warns about (`logical line must not start with whitespace`). */
  readonly warnings: string[];
}

export function logicalLines(source: string, file: string): LogicalLines {
  const lines: LogicalLine[] = [];
  const warnings: string[] = [];
  const physical = source.split('\n');
  // A final newline does not start one more (empty) line.
  if (physical.length && physical[physical.length - 1] === '') physical.pop();
  let current: { text: string; line: number } | undefined;
  for (let i = 0; i < physical.length; i++) {
    let raw = physical[i]!;
    if (raw.endsWith('\r')) raw = raw.slice(0, -1);
    const trimmed = raw.trimStart();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (raw !== trimmed) {
      if (current) current.text += raw;
      else warnings.push(`${file}, line ${i + 1}: logical line must not start with whitespace: "${clip(trimmed)}"`);
      continue;
    }
    if (current) lines.push(current);
    current = { text: raw, line: i + 1 };
  }
  if (current) lines.push(current);
  return { lines, warnings };
}

function clip(text: string): string {
  return text.length > 30 ? `${text.slice(0, 30)}...` : text;
}
