/**
 * The SSRF guard (DESIGN.md, "Security rules"). Every outgoing connection goes through
 * {@link guardedConnector}: it resolves the host once, checks every address, and connects
 * to the checked address itself, so a DNS answer that changes between check and connect
 * (rebinding) cannot slip through.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { buildConnector } from 'undici';
import { HeraldError, ValidationError } from '../core/errors.js';

/*
 * The block lists, checked against the IANA special-purpose address registries
 * (iana-ipv4-special-registry and iana-ipv6-special-registry, both as updated 2025) and
 * the IPv6 address-space registry. Every entry whose "Globally Reachable" is False or N/A
 * is blocked. Entries marked True are blocked too where they are anycast service
 * addresses rather than places a webhook receiver can live, because the nearest instance
 * of an anycast service may be one the operator runs inside its own network (RFC 7534
 * asks organisations to run AS112 servers locally): 192.0.0.9 and 192.0.0.10 (PCP and
 * TURN anycast, inside 192.0.0.0/24), 192.31.196.0/24 and 192.175.48.0/24 (AS112),
 * 192.52.193.0/24 (AMT), and their IPv6 counterparts inside 2001::/23 and
 * 2620:4f:8000::/48. ORCHIDv2 (2001:20::/28) and drone DETs (2001:30::/28) are marked True
 * but are host identifiers, not locators (RFC 7343, RFC 9374): whatever a local HIP stack
 * maps them to is not a public address, so they are blocked with the rest of 2001::/23.
 */

/** IPv4 ranges no webhook may reach unless explicitly allowed (`--allow-network`). */
export const BLOCKED_IPV4: readonly string[] = [
  '0.0.0.0/8', // "this" network
  '10.0.0.0/8', // private
  '100.64.0.0/10', // carrier-grade NAT
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local, cloud metadata
  '172.16.0.0/12', // private
  '192.0.0.0/24', // IETF protocol assignments (DS-Lite, NAT64 discovery, PCP/TURN anycast)
  '192.0.2.0/24', // documentation
  '192.31.196.0/24', // AS112-v4 (anycast, see above)
  '192.52.193.0/24', // AMT relays (anycast, see above)
  '192.88.99.0/24', // deprecated 6to4 relay anycast, 6a44
  '192.168.0.0/16', // private
  '192.175.48.0/24', // direct delegation AS112 (anycast, see above)
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24', // documentation
  '203.0.113.0/24', // documentation
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, including broadcast
];

/**
 * IPv6 ranges blocked the same way. IPv4-mapped addresses (`::ffff:0:0/96`) are unmapped
 * and checked as IPv4 first; everything else outside 2000::/3 is blocked outright.
 */
export const BLOCKED_IPV6: readonly string[] = [
  // Outside 2000::/3, the only space IANA allocates for global unicast. This takes in
  // ::/128 unspecified, ::1 loopback, ::/96 IPv4-compatible, ::ffff:0:0:0/96 SIIT
  // IPv4-translated, 64:ff9b::/96 NAT64, 64:ff9b:1::/48 local-use NAT64, 100::/64 discard,
  // 100:0:0:1::/64 dummy prefix, 5f00::/16 SRv6 SIDs, fc00::/7 unique local, fe80::/10
  // link-local, fec0::/10 deprecated site-local, ff00::/8 multicast, and whatever IANA
  // still holds in reserve (refused until it is allocated, not after).
  '::/3',
  '4000::/2',
  '8000::/1',
  // Inside 2000::/3:
  '2001::/23', // IETF protocol assignments: Teredo 2001::/32, PCP/TURN/DNS-SD anycast
  // 2001:1::1-3, benchmarking 2001:2::/48, AMT 2001:3::/32, AS112 2001:4:112::/48,
  // ORCHID 2001:10::/28, ORCHIDv2 2001:20::/28, DETs 2001:30::/28
  '2001:db8::/32', // documentation
  '2002::/16', // 6to4
  '2620:4f:8000::/48', // direct delegation AS112 (anycast, see above)
  '3fff::/20', // documentation
];

/** A connection refused because its address is in a blocked range. */
export class BlockedAddressError extends HeraldError {
  override readonly code = 'blocked_address';
}

/** A host name that resolved to nothing. */
export class DnsError extends HeraldError {
  override readonly code = 'dns';
}

/** One resolved address. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses. Tests inject a stub. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** The system resolver (getaddrinfo, as the rest of Node uses). */
export const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

function addCidr(list: BlockList, cidr: string, field: string): void {
  const slash = cidr.lastIndexOf('/');
  const address = slash === -1 ? cidr : cidr.slice(0, slash);
  const family = isIP(address);
  const prefix = slash === -1 ? (family === 6 ? 128 : 32) : Number(cidr.slice(slash + 1));
  const max = family === 6 ? 128 : 32;
  if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
    throw new ValidationError(field, `${cidr} is not a CIDR range such as 127.0.0.0/8 or fd00::/8`);
  }
  list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
}

const MAPPED_V4 = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/** An IPv4-mapped IPv6 address (`::ffff:a.b.c.d` in any spelling) as IPv4; others unchanged. */
export function unmapIPv4(address: string): string {
  if (isIP(address) !== 6) return address;
  // The WHATWG URL parser prints IPv6 in its canonical, compressed, hex-only form.
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const m = MAPPED_V4.exec(canonical);
  if (!m) return address;
  const hi = Number.parseInt(m[1]!, 16);
  const lo = Number.parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** What the operator does to let Herald reach a blocked address on purpose. */
function howToAllow(ip: string): string {
  const address = unmapIPv4(ip);
  const range = isIP(address) === 6 ? `${address}/128` : `${address}/32`;
  return `allow it with herald serve --allow-network ${range} (or HERALD_ALLOW_NETWORK)`;
}

/** Decides which addresses may be connected to. */
export class AddressPolicy {
  // One list per family: a BlockList matches an IPv4 address against any IPv6 range that
  // holds its mapped form (::ffff:a.b.c.d), so '::/3' in a shared list would block all of
  // IPv4. The allow list may be shared: there, that reading is the one wanted.
  private readonly blocked = { ipv4: new BlockList(), ipv6: new BlockList() };
  private readonly allowed = new BlockList();

  /** `allow` holds CIDR ranges reachable despite the block list (`--allow-network`). */
  constructor(allow: readonly string[] = []) {
    for (const cidr of BLOCKED_IPV4) addCidr(this.blocked.ipv4, cidr, 'blocked');
    for (const cidr of BLOCKED_IPV6) addCidr(this.blocked.ipv6, cidr, 'blocked');
    for (const cidr of allow) addCidr(this.allowed, cidr, 'allowNetwork');
  }

  /** Whether connecting to this IP literal is refused. */
  isBlocked(ip: string): boolean {
    const address = unmapIPv4(ip);
    const family = isIP(address);
    if (family === 0) return true;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (this.allowed.check(address, type)) return false;
    return this.blocked[type].check(address, type);
  }

  /**
   * The address to connect to for `hostname`: an IP literal is checked as it is; a name is
   * resolved once and refused if any of its addresses is blocked.
   */
  async pick(hostname: string, resolver: Resolver): Promise<string> {
    if (isIP(hostname) !== 0) {
      if (this.isBlocked(hostname))
        throw new BlockedAddressError(`address ${hostname} is in a blocked range; ${howToAllow(hostname)}`);
      return hostname;
    }
    let addresses: ResolvedAddress[];
    try {
      addresses = await resolver(hostname);
    } catch (cause) {
      throw new DnsError(`cannot resolve ${hostname}`, { cause });
    }
    if (addresses.length === 0) throw new DnsError(`${hostname} has no address`);
    const bad = addresses.find((a) => this.isBlocked(a.address));
    if (bad)
      throw new BlockedAddressError(
        `${hostname} resolves to ${bad.address}, in a blocked range; ${howToAllow(bad.address)}`,
      );
    return addresses[0]!.address;
  }
}

/** Options of {@link guardedConnector}. */
export interface GuardOptions {
  policy: AddressPolicy;
  resolver?: Resolver;
  /** Connect timeout in ms. */
  connectTimeoutMs: number;
}

/**
 * An undici connector that connects only to addresses the policy allows. The checked IP is
 * handed to the socket; TLS still verifies the certificate against the original host name.
 */
export function guardedConnector(options: GuardOptions): buildConnector.connector {
  const base = buildConnector({ timeout: options.connectTimeoutMs });
  const resolver = options.resolver ?? systemResolver;
  return (opts, callback) => {
    options.policy.pick(opts.hostname, resolver).then(
      (address) => base({ ...opts, hostname: address }, callback),
      (error: Error) => callback(error, null),
    );
  };
}
