/**
 * Alert (RFC 8446 §6): struct { AlertLevel level; AlertDescription description; } Alert;
 * Alert messages MUST NOT be fragmented across records, and multiple alerts
 * MUST NOT be coalesced into one record (§5.1), so an alert record holds
 * exactly two bytes.
 */

import { fail } from '../errors.js';

export interface Alert {
  readonly level: number;
  readonly description: number;
}

export function encodeAlert(level: number, description: number): Uint8Array {
  return Uint8Array.of(level, description);
}

export function parseAlert(fragment: Uint8Array): Alert {
  // RFC 8446 §5.4 / RFC 5246 §6.2.1: an Alert record with no content at all is unexpected_message, not a decode_error.
  if (fragment.length === 0) fail('EmptyAlertRecord');
  if (fragment.length !== 2) fail('AlertWrongLength', fragment.length);
  return { level: fragment[0]!, description: fragment[1]! };
}
