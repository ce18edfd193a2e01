// The master.cf commands that are front ends of this daemon. A leaf, so that
// the configuration can recognise them without loading the front ends.

export type FrontEndKind = 'tlsproxy' | 'postscreen';

/** master.cf commands that are front ends. */
export const FRONT_END_COMMANDS: readonly FrontEndKind[] = ['tlsproxy', 'postscreen'];

export function isFrontEndCommand(command: string): command is FrontEndKind {
  return (FRONT_END_COMMANDS as readonly string[]).includes(command);
}
