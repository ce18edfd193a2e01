// A TLS echo server: the tlsproxy engine over a node:net socket (docs/library.md).
//   node examples/echo-server.mjs CERT.pem KEY.pem [PORT]
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { DEFAULT_GROUPS, DEFAULT_TLS13_SUITES, ServerConnection } from 'tlsproxy/engine';
import { loadKeyPair } from 'tlsproxy/certs';
import { createWebCryptoProvider } from 'tlsproxy/providers/webcrypto';

const [certFile, keyFile, port = '8443'] = process.argv.slice(2);
const provider = createWebCryptoProvider();
const pair = await loadKeyPair({ certPem: readFileSync(certFile, 'utf8'), certSource: certFile, keyPem: readFileSync(keyFile, 'utf8'), keySource: keyFile });
const key = await provider.importSigningKey(pair.key.pkcs8, pair.key.algorithm);
const config = { provider, certificates: [{ chain: pair.chain, key, names: pair.names }], cipherSuites: DEFAULT_TLS13_SUITES, groups: DEFAULT_GROUPS, preferServerCiphers: true };

net.createServer((socket) => {
  const tls = new ServerConnection(config, {
    write: (ciphertext) => socket.write(ciphertext),
    handshake: (info) => console.log(`${socket.remoteAddress}: ${info.protocol} ${info.cipherName} ${info.group}`),
    data: (plaintext) => tls.write(plaintext), // echo
    peerClosed: () => tls.close(() => socket.end()),
    failed: (error) => {
      console.log(`${socket.remoteAddress}: failed: ${error.alertName ?? ''} ${error.reason}`);
      socket.end();
    },
  });
  socket.on('data', (bytes) => tls.receive(bytes));
  socket.on('end', () => tls.whenIdle(() => tls.close(() => socket.end())));
  socket.on('error', () => socket.destroy());
  socket.on('close', () => tls.forgetKeys()); // zero the session's keys now, not at GC
}).listen(Number(port), '127.0.0.1', () => console.log(`listening on 127.0.0.1:${port}`));
