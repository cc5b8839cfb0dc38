import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import {
  generateEd25519Secret,
  generateHmacSecret,
  parseSecret,
  signatureHeader,
  signOne,
} from '../../src/core/signing.js';

interface Vector {
  secret: string;
  id: string;
  timestamp: number;
  payload: string;
  signature: string;
}
const vectors = JSON.parse(
  readFileSync(new URL('../fixtures/signature-vectors.json', import.meta.url), 'utf8'),
) as { standardWebhooks: Vector[] };

describe('Standard Webhooks signing', () => {
  it.each(vectors.standardWebhooks)('matches the published vector for $id', (v) => {
    expect(signOne(parseSecret(v.secret), v.id, v.timestamp, v.payload)).toBe(v.signature);
  });

  it('signs the same bytes from a string or a buffer', () => {
    const key = parseSecret(generateHmacSecret());
    expect(signOne(key, 'msg_1', 1, Buffer.from('{"a":"é"}'))).toBe(signOne(key, 'msg_1', 1, '{"a":"é"}'));
  });

  it('is verified by the standardwebhooks and svix packages', () => {
    const secret = generateHmacSecret();
    const body = '{"type":"content.published","id":42}';
    const ts = Math.floor(Date.now() / 1000);
    const header = signatureHeader([parseSecret(secret)], 'msg_abc', ts, body);
    const headers = { 'webhook-id': 'msg_abc', 'webhook-timestamp': String(ts), 'webhook-signature': header };
    expect(new StandardWebhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(new SvixWebhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new SvixWebhook(secret).verify(`${body} `, headers)).toThrow();
  });

  it('puts one signature per key in the header, each verifiable alone', () => {
    const [a, b] = [generateHmacSecret(), generateHmacSecret()];
    const ts = Math.floor(Date.now() / 1000);
    const header = signatureHeader([parseSecret(a), parseSecret(b)], 'msg_x', ts, '{}');
    expect(header.split(' ')).toHaveLength(2);
    for (const secret of [a, b]) {
      const headers = { 'webhook-id': 'msg_x', 'webhook-timestamp': String(ts), 'webhook-signature': header };
      expect(new StandardWebhook(secret).verify('{}', headers)).toEqual({});
    }
  });

  it('signs v1a with ed25519 keys, verifiable with the whpk_ public key', () => {
    const key = parseSecret(generateEd25519Secret());
    if (key.kind !== 'ed25519') throw new Error('expected an ed25519 key');
    const sig = signOne(key, 'msg_1', 1700000000, '{"a":1}');
    expect(sig.startsWith('v1a,')).toBe(true);
    const raw = Buffer.from(key.publicKey.slice('whpk_'.length), 'base64');
    const publicKey = createPublicKey({
      key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]),
      format: 'der',
      type: 'spki',
    });
    const data = Buffer.from('msg_1.1700000000.{"a":1}');
    expect(verify(null, data, publicKey, Buffer.from(sig.slice(4), 'base64'))).toBe(true);
    expect(
      verify(null, Buffer.from('msg_1.1700000001.{"a":1}'), publicKey, Buffer.from(sig.slice(4), 'base64')),
    ).toBe(false);
  });

  it.each([
    ['whsec_', 'no key bytes'],
    ['whsec_!!!!', 'not base64'],
    [`whsec_${Buffer.alloc(16).toString('base64')}`, 'too short'],
    [`whsec_${Buffer.alloc(65).toString('base64')}`, 'too long'],
    ['sk_live_abc', 'unknown prefix'],
    [`whsk_${Buffer.alloc(31).toString('base64')}`, 'bad ed25519 length'],
  ])('refuses the secret %s (%s)', (secret) => {
    expect(() => parseSecret(secret)).toThrow(ValidationError);
  });
});
