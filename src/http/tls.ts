import type { FastifyInstance } from 'fastify';

/** PEM certificate chain and private key of the HTTPS listener. */
export interface TlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
}

/**
 * TLS 1.2 cipher suites: forward secrecy (ECDHE) with AEAD only, no CBC, RSA
 * key exchange, SHA-1 MACs or 3DES (Mozilla "intermediate"). TLS 1.3 suites are
 * all AEAD and stay enabled by Node's defaults.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export function httpsOptions(tls: TlsOptions) {
  return {
    cert: tls.cert,
    key: tls.key,
    minVersion: 'TLSv1.2' as const,
    ciphers: TLS12_CIPHERS,
    // The server's preference decides, so a client offering weak and strong suites gets a strong one.
    honorCipherOrder: true,
  };
}

/** HSTS on every response served over TLS: browsers never fall back to plain HTTP for this host. */
export function addHsts(app: FastifyInstance): void {
  app.addHook('onSend', async (_req, reply) => {
    reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
  });
}
