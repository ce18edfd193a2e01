/**
 * Postfix "attr0" attribute lists (attr_print0.c / attr_scan0.c), the
 * encoding of the requester <-> tlsproxy conversation (tlsproxy-postfix.md §2.1):
 *
 *   name NUL value NUL name NUL value NUL ... NUL
 *
 * Integers are unsigned decimal text. A list ends with one extra NUL (an
 * empty name). Names and values are at most 4 x line_length_limit bytes.
 */

/** 4 x line_length_limit (2048). */
export const MAX_ATTR_LENGTH = 8192;
/** A generous bound on the number of attributes in one list (the longest real one has ~60). */
export const MAX_ATTRS = 1024;

export type Attr = readonly [name: string, value: string];

export class AttrError extends Error {
  override readonly name = 'AttrError';
}

/** Encode one list, terminator included. */
export function encodeAttrs(attrs: readonly Attr[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of attrs) {
    if (!name) throw new AttrError('empty attribute name');
    if (name.includes('\0') || value.includes('\0')) throw new AttrError(`attribute ${name}: NUL in name or value`);
    parts.push(Buffer.from(name, 'latin1'), Buffer.of(0), Buffer.from(value, 'latin1'), Buffer.of(0));
  }
  parts.push(Buffer.of(0));
  return Buffer.concat(parts);
}

/**
 * Incremental reader for one list: feed() bytes as they arrive; it
 * returns the number of bytes it consumed. `done` once the terminator was
 * read; bytes after it are not consumed (they belong to what follows).
 */
export class AttrListReader {
  readonly attrs: Attr[] = [];
  done = false;
  private current: number[] = [];
  private name: string | undefined;

  feed(bytes: Uint8Array): number {
    let i = 0;
    for (; i < bytes.length && !this.done; i++) {
      const b = bytes[i]!;
      if (b !== 0) {
        if (this.current.length >= MAX_ATTR_LENGTH) {
          throw new AttrError(`${this.name === undefined ? 'attribute name' : `attribute ${this.name} value`} length > ${MAX_ATTR_LENGTH}`);
        }
        this.current.push(b);
        continue;
      }
      const text = Buffer.from(this.current).toString('latin1');
      this.current = [];
      if (this.name === undefined) {
        if (!text) {
          this.done = true;
          continue;
        }
        if (this.attrs.length >= MAX_ATTRS) throw new AttrError(`more than ${MAX_ATTRS} attributes`);
        this.name = text;
      } else {
        this.attrs.push([this.name, text]);
        this.name = undefined;
      }
    }
    return i;
  }

  /** Where the reader stopped, for "premature end-of-input" messages. */
  get pending(): string | undefined {
    return this.name;
  }
}

/** Decode exactly one complete list (tests, fixtures); throws on trailing bytes or a missing terminator. */
export function decodeAttrs(bytes: Uint8Array): Attr[] {
  const r = new AttrListReader();
  const used = r.feed(bytes);
  if (!r.done) throw new AttrError('premature end-of-input');
  if (used !== bytes.length) throw new AttrError(`${bytes.length - used} bytes after the list`);
  return r.attrs;
}

/**
 * Reads attributes in the order a scanner expects them (attr_scan0 with
 * ATTR_FLAG_STRICT): a missing or unexpected name is an error.
 */
export class AttrCursor {
  private i = 0;
  constructor(private readonly attrs: readonly Attr[]) {}

  get atEnd(): boolean {
    return this.i >= this.attrs.length;
  }

  peekName(): string | undefined {
    return this.attrs[this.i]?.[0];
  }

  str(name: string): string {
    const a = this.attrs[this.i];
    if (!a) throw new AttrError(`missing attribute ${name}`);
    if (a[0] !== name) throw new AttrError(`unexpected attribute name: ${a[0]} (expected ${name})`);
    this.i++;
    return a[1];
  }

  int(name: string): number {
    const v = this.str(name);
    if (!/^\d+$/.test(v) || v.length > 10 || Number(v) > 0xffffffff) throw new AttrError(`malformed numerical data for attribute ${name}: "${v}"`);
    return Number(v);
  }

  /** Everything left must have been consumed. */
  end(): void {
    const a = this.attrs[this.i];
    if (a) throw new AttrError(`unexpected attribute name: ${a[0]}`);
  }
}
