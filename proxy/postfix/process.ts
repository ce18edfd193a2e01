/** What the placeholder parent P (launcher.ts) and the serving process W (worker.ts) share. */

/** Environment P sets for W: its own pid (the one master knows) and the command name master ran. */
export const ENV_PARENT_PID = 'TLSPROXY_POSTFIX_PARENT_PID';
export const ENV_COMMAND = 'TLSPROXY_POSTFIX_COMMAND';

/** Messages W sends P over the IPC channel. */
export type WorkerMessage = { readonly type: 'drain'; readonly why: string } | { readonly type: 'privileges'; readonly uid: number; readonly gid: number };
