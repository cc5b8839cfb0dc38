/**
 * The SSRF matrix. No packet leaves for a non-loopback address: names are answered by a
 * stub resolver, and every test asserts that no socket was opened.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AddressPolicy, type ResolvedAddress, unmapIPv4 } from '../../src/delivery/ssrf.js';
import { startReceiver } from '../helpers.js';
import { type Fixture, fixture } from './fixture.js';

/**
 * Ranges added after checking the list against the IANA special-purpose registries (see
 * the comment over BLOCKED_IPV4 in ssrf.ts): a name for each, an address inside it, and
 * the addresses just outside it that stay reachable.
 */
const ADDED: { range: string; inside: string[]; outside: string[] }[] = [
  {
    range: '192.31.196.0/24 AS112',
    inside: ['192.31.196.1', '192.31.196.255'],
    outside: ['192.31.195.255', '192.31.197.0'],
  },
  {
    range: '192.52.193.0/24 AMT',
    inside: ['192.52.193.1', '192.52.193.255'],
    outside: ['192.52.192.255', '192.52.194.0'],
  },
  {
    range: '192.175.48.0/24 AS112 direct',
    inside: ['192.175.48.6', '192.175.48.255'],
    outside: ['192.175.47.255', '192.175.49.0'],
  },
  {
    range: '64:ff9b:1::/48 local-use NAT64',
    inside: ['64:ff9b:1::a00:1', '64:ff9b:1:ffff:ffff:ffff:ffff:ffff'],
    outside: [],
  },
  { range: '::ffff:0:0:0/96 SIIT', inside: ['::ffff:0:a00:1', '::ffff:0:808:808'], outside: [] },
  { range: '2001::/32 Teredo', inside: ['2001::1', '2001:0:ffff:ffff:ffff:ffff:ffff:ffff'], outside: [] },
  { range: 'fec0::/10 site-local', inside: ['fec0::1', 'feff:ffff::1'], outside: [] },
  { range: '2001:1::1/128 PCP anycast', inside: ['2001:1::1', '2001:1::2', '2001:1::3'], outside: [] },
  { range: '2001:2::/48 benchmarking', inside: ['2001:2::1', '2001:2:0:ffff::1'], outside: [] },
  { range: '2001:3::/32 AMT', inside: ['2001:3::1'], outside: [] },
  { range: '2001:4:112::/48 AS112', inside: ['2001:4:112::1'], outside: [] },
  { range: '2001:10::/28 ORCHID', inside: ['2001:10::1', '2001:1f:ffff::1'], outside: [] },
  { range: '2001:20::/28 ORCHIDv2', inside: ['2001:20::1', '2001:2f:ffff::1'], outside: [] },
  { range: '2001:30::/28 DETs', inside: ['2001:30::1'], outside: [] },
  {
    range: '2001::/23 the rest of it',
    inside: ['2001:1ff:ffff:ffff::1'],
    outside: ['2001:200::1', '2001:4860:4860::8888'],
  },
  {
    range: '2620:4f:8000::/48 AS112 direct',
    inside: ['2620:4f:8000::1'],
    outside: ['2620:4f:7fff:ffff::1', '2620:4f:8001::1'],
  },
  {
    range: '3fff::/20 documentation',
    inside: ['3fff::1', '3fff:fff:ffff::1'],
    outside: ['3fff:1000::1', '3ffe:ffff::1'],
  },
  { range: '5f00::/16 SRv6 SIDs', inside: ['5f00::1', '5f00:ffff::1'], outside: [] },
  { range: '100:0:0:1::/64 dummy prefix', inside: ['100:0:0:1::1'], outside: [] },
  {
    range: 'outside 2000::/3, unallocated',
    inside: ['1000::1', '4000::1', '8000::1', 'e000::1', '1fff:ffff::1', '4000::'],
    outside: ['2000::1', '3fff:ffff::1'],
  },
];

describe('AddressPolicy', () => {
  const policy = new AddressPolicy();
  it.each([
    '0.0.0.0',
    '0.1.2.3',
    '10.0.0.1',
    '100.64.0.1',
    '100.127.255.254',
    '127.0.0.1',
    '127.255.255.254',
    '169.254.169.254',
    '172.16.0.1',
    '172.31.255.255',
    '192.0.0.8',
    '192.0.2.1',
    '192.88.99.1',
    '192.168.1.1',
    '198.18.0.1',
    '198.19.255.255',
    '198.51.100.7',
    '203.0.113.9',
    '224.0.0.1',
    '239.255.255.250',
    '240.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '0:0:0:0:0:ffff:a00:1',
    '::ffff:169.254.169.254',
    '::127.0.0.1',
    'fe80::1',
    'febf::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '2001:db8::1',
    '100::1',
    '2002:c0a8:101::1',
    '64:ff9b::a00:1',
  ])('blocks %s', (address) => {
    expect(policy.isBlocked(address)).toBe(true);
  });

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700::1111',
    '::ffff:8.8.8.8',
  ])('allows the public address %s', (address) => {
    expect(policy.isBlocked(address)).toBe(false);
  });

  it.each(ADDED.flatMap((r) => r.inside.map((address) => [r.range, address])))(
    'blocks %s: %s',
    (_range, address) => {
      expect(policy.isBlocked(address)).toBe(true);
    },
  );

  it.each(ADDED.flatMap((r) => r.outside.map((address) => [r.range, address])))(
    'allows the neighbour of %s: %s',
    (_range, address) => {
      expect(policy.isBlocked(address)).toBe(false);
    },
  );

  it('keeps IPv4 apart from the IPv6 ranges that cover its mapped form (::/3 holds ::ffff:0:0/96)', () => {
    for (const address of ['8.8.8.8', '1.1.1.1', '::ffff:8.8.8.8', '::ffff:101:101'])
      expect(policy.isBlocked(address)).toBe(false);
  });

  it('lets --allow-network ranges through, IPv4-mapped forms included', () => {
    const allowing = new AddressPolicy(['127.0.0.0/8', 'fd00::/8']);
    expect(allowing.isBlocked('127.0.0.1')).toBe(false);
    expect(allowing.isBlocked('::ffff:127.0.0.1')).toBe(false);
    expect(allowing.isBlocked('fd00::5')).toBe(false);
    expect(allowing.isBlocked('10.0.0.1')).toBe(true);
  });

  it('refuses a malformed allow range with a clear error', () => {
    expect(() => new AddressPolicy(['10.0.0.0/33'])).toThrow(/allowNetwork.*not a CIDR range/);
    expect(() => new AddressPolicy(['example.com/8'])).toThrow(/not a CIDR range/);
  });

  it('reads IPv4-mapped IPv6 in every spelling as IPv4', () => {
    expect(unmapIPv4('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(unmapIPv4('::FFFF:0a01:0203')).toBe('10.1.2.3');
    expect(unmapIPv4('0:0:0:0:0:ffff:a01:203')).toBe('10.1.2.3');
    expect(unmapIPv4('2001:db8::1')).toBe('2001:db8::1');
  });
});

const realNetConnect = net.connect;
const realTlsConnect = tls.connect;

/**
 * A connect that dials loopback only: any other host gets a socket that fails without a
 * packet, so even a broken guard sends nothing off the machine (the tests still fail, on
 * their "no socket" assertions).
 */
function loopbackOnly<F extends typeof net.connect | typeof tls.connect>(real: F): F {
  return ((options: net.TcpNetConnectOpts, ...rest: unknown[]) => {
    if (typeof options === 'object' && /^(127\.|::1$|::ffff:127\.)/.test(options.host ?? ''))
      return (real as (...args: unknown[]) => net.Socket)(options, ...rest);
    const refused = new net.Socket();
    process.nextTick(() =>
      refused.destroy(Object.assign(new Error('test: no packet off loopback'), { code: 'ECONNREFUSED' })),
    );
    return refused;
  }) as F;
}

describe('the guard in delivery', () => {
  let f: Fixture;
  const resolved: string[] = [];
  const answers: Record<string, ResolvedAddress[]> = {
    'metadata.example': [{ address: '169.254.169.254', family: 4 }],
    'intranet.example': [{ address: '10.1.2.3', family: 4 }],
    'mixed.example': [
      { address: '93.184.216.34', family: 4 },
      { address: '192.168.1.1', family: 4 },
    ],
    'v6-local.example': [{ address: 'fd00::1', family: 6 }],
    'mapped.example': [{ address: '::ffff:10.0.0.1', family: 6 }],
    ...Object.fromEntries(
      ADDED.map((r, i) => {
        const address = r.inside[0]!;
        return [`added-${i}.example`, [{ address, family: address.includes(':') ? 6 : 4 } as const]];
      }),
    ),
  };
  let netConnect: ReturnType<typeof vi.spyOn>;
  let tlsConnect: ReturnType<typeof vi.spyOn>;

  beforeEach(async () => {
    netConnect = vi.spyOn(net, 'connect').mockImplementation(loopbackOnly(realNetConnect));
    tlsConnect = vi.spyOn(tls, 'connect').mockImplementation(loopbackOnly(realTlsConnect));
    f = await fixture({
      allowNetworks: [],
      resolver: async (hostname) => {
        resolved.push(hostname);
        const answer = answers[hostname];
        if (!answer) throw Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
        return answer;
      },
    });
  });

  afterEach(async () => {
    await f.close();
    vi.restoreAllMocks();
  });

  it.each([
    ['a private IPv4 literal', 'http://10.0.0.1/hook'],
    ['loopback', 'http://127.0.0.1:8080/'],
    ['IPv6 loopback', 'http://[::1]/'],
    ['IPv4-mapped IPv6', 'http://[::ffff:10.0.0.1]/'],
    ['IPv4-mapped IPv6 in hex', 'http://[::ffff:a9fe:a9fe]/'],
    ['a decimal IPv4 literal', 'http://2130706433/'],
    ['an octal IPv4 literal', 'http://0177.0.0.1/'],
    ['a hex IPv4 literal', 'http://0x7f.0.0.1/'],
    ['a short hex literal', 'http://0xa9fea9fe/'],
    ['cloud metadata', 'http://169.254.169.254/latest/meta-data/'],
    ['https to a private literal', 'https://192.168.0.10/'],
    ['a name resolving to metadata', 'http://metadata.example/'],
    ['a name resolving to a private address', 'https://intranet.example/'],
    ['a name with one private address among public ones', 'http://mixed.example/'],
    ['a name resolving to unique-local IPv6', 'http://v6-local.example/'],
    ['a name resolving to IPv4-mapped IPv6', 'http://mapped.example/'],
  ])('refuses %s without opening a socket', async (_name, url) => {
    const ep = await f.store.createEndpoint(f.appId, { url });
    const next = f.nextAttempt();
    const { message } = await f.store.acceptMessage({ appId: f.appId, eventType: 'a', payload: '{}' });
    const { attempt, next: after } = await next;
    expect(attempt).toMatchObject({ succeeded: false, statusCode: null, errorKind: 'blocked_address' });
    expect(after).toEqual({ status: 'failed', exhausted: false });
    expect((await f.store.getDelivery(message.id, ep.id))!.status).toBe('failed');
    expect(netConnect).not.toHaveBeenCalled();
    expect(tlsConnect).not.toHaveBeenCalled();
  });

  it.each(
    ADDED.flatMap((r, i) => {
      const address = r.inside[0]!;
      const literal = address.includes(':') ? `[${address}]` : address;
      return [
        [`${r.range}, literal ${address}`, `http://${literal}/hook`],
        [`${r.range}, a name resolving to ${address}`, `https://added-${i}.example/hook`],
      ];
    }),
  )('refuses %s without opening a socket', async (_name, url) => {
    await f.store.createEndpoint(f.appId, { url });
    const next = f.nextAttempt();
    await f.store.acceptMessage({ appId: f.appId, eventType: 'a', payload: '{}' });
    const { attempt, next: after } = await next;
    expect(attempt).toMatchObject({ succeeded: false, statusCode: null, errorKind: 'blocked_address' });
    expect(after).toEqual({ status: 'failed', exhausted: false });
    expect(netConnect).not.toHaveBeenCalled();
    expect(tlsConnect).not.toHaveBeenCalled();
  });

  it('sees the sockets it guards: an allowed loopback delivery does call net.connect', async () => {
    const r = await startReceiver();
    const allowing = await fixture({ allowNetworks: ['127.0.0.0/8'] });
    try {
      await allowing.store.createEndpoint(allowing.appId, { url: r.url });
      const next = allowing.nextAttempt();
      await allowing.store.acceptMessage({ appId: allowing.appId, eventType: 'a', payload: '{}' });
      expect((await next).attempt.succeeded).toBe(true);
      expect(netConnect).toHaveBeenCalledWith(expect.objectContaining({ host: '127.0.0.1' }));
    } finally {
      await allowing.close();
      await r.close();
    }
  });

  it('defeats DNS rebinding: a name that turns private between connections is refused at connect', async () => {
    // The "public" address is never dialled: net.connect to it is redirected to a local
    // receiver, so this test sends no packet off the machine.
    const PUBLIC = '93.184.216.34';
    const r = await startReceiver();
    const guarded = loopbackOnly(realNetConnect);
    netConnect.mockImplementation(((options: net.NetConnectOpts) => {
      const o = options as net.TcpNetConnectOpts;
      if (o.host === PUBLIC) return realNetConnect({ ...o, host: '127.0.0.1', port: r.port });
      return guarded(o);
    }) as typeof net.connect);
    const lookups: string[] = [];
    let answer = PUBLIC;
    const rebinding = await fixture({
      allowNetworks: [],
      resolver: async (hostname) => {
        lookups.push(hostname);
        return [{ address: answer, family: 4 }];
      },
    });
    try {
      const ep = await rebinding.store.createEndpoint(rebinding.appId, { url: 'http://rebind.example/hook' });
      const first = rebinding.nextAttempt();
      await rebinding.store.acceptMessage({ appId: rebinding.appId, eventType: 'a', payload: '{}' });
      expect((await first).attempt).toMatchObject({ succeeded: true, statusCode: 200 });
      // The socket went to the checked address, with the name kept for the Host header.
      expect(netConnect).toHaveBeenCalledWith(expect.objectContaining({ host: PUBLIC }));
      expect(r.received[0]!.headers.host).toBe('rebind.example');

      // The name now points inside; the next connection must be refused before any socket.
      answer = '10.0.0.5';
      r.server.closeAllConnections();
      netConnect.mockClear();
      const second = rebinding.nextAttempt();
      const { message } = await rebinding.store.acceptMessage({
        appId: rebinding.appId,
        eventType: 'a',
        payload: '{}',
      });
      expect((await second).attempt).toMatchObject({ succeeded: false, errorKind: 'blocked_address' });
      expect((await rebinding.store.getDelivery(message.id, ep.id))!.status).toBe('failed');
      expect(netConnect).not.toHaveBeenCalled();
      expect(tlsConnect).not.toHaveBeenCalled();
      expect(lookups).toEqual(['rebind.example', 'rebind.example']);
      expect(r.received).toHaveLength(1);
    } finally {
      await rebinding.close();
      await r.close();
    }
  });

  it('resolves a name once per connection, through the injected resolver', async () => {
    resolved.length = 0;
    await f.store.createEndpoint(f.appId, { url: 'http://intranet.example/' });
    const next = f.nextAttempt();
    await f.store.acceptMessage({ appId: f.appId, eventType: 'a', payload: '{}' });
    await next;
    expect(resolved).toEqual(['intranet.example']);
  });
});
