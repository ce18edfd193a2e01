/** Every fuzz target, in the order they run. */
import type { Target } from '../lib/target.js';
import { configTarget } from './config.js';
import { engineTarget } from './engine.js';
import { engineTls13Target } from './engine-tls13.js';
import { messagesTarget } from './messages.js';
import { postfixAttrTarget } from './postfix-attr.js';
import { postscreenSessionTarget, postscreenTarget } from './postscreen.js';
import { proxyProtocolTarget } from './proxy-protocol.js';
import { x509Target } from './x509.js';

export const TARGETS: readonly Target[] = [engineTarget, engineTls13Target, messagesTarget, x509Target, proxyProtocolTarget, postscreenTarget, postscreenSessionTarget, postfixAttrTarget, configTarget];
