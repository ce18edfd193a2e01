// A node:tls client run by a newer Node (tests/helpers/node24.ts): Node 24
// bundles OpenSSL 3.5, whose ecdhCurve list can name X25519MLKEM768.
// argv: port, JSON of tls.connect options (ca as a PEM string). Sends
// "ping\n", waits for the echo, prints one JSON line: the protocol, the
// cipher, and the error if any; OpenSSL's message trace goes to stderr.
import tls from 'node:tls';

const [port, json] = process.argv.slice(2);
const options = JSON.parse(json);
// SSL_trace output goes to stderr, which the parent reads for a HelloRetryRequest.
const socket = tls.connect({ host: '127.0.0.1', port: Number(port), servername: 'localhost', ...options });
socket.enableTrace();
const done = (result) => {
  process.stdout.write(`${JSON.stringify({ ...result, openssl: process.versions.openssl, node: process.version })}\n`);
  socket.destroy();
  process.exit(0);
};
const timer = setTimeout(() => done({ error: 'timeout' }), 10_000);
socket.on('error', (e) => {
  clearTimeout(timer);
  done({ error: e.message, code: e.code });
});
socket.once('secureConnect', () => socket.write('ping\n'));
let text = '';
socket.setEncoding('utf8');
socket.on('data', (d) => {
  text += d;
  if (text.includes('ping\n')) {
    clearTimeout(timer);
    done({ protocol: socket.getProtocol(), cipher: socket.getCipher()?.name, echoed: true });
  }
});
