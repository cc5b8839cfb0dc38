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

/** Ranges no webhook may reach unless explicitly allowed. */
export const BLOCKED_IPV4: readonly string[] = [
  '0.0.0.0/8', // "this" network
  '10.0.0.0/8', // private
  '100.64.0.0/10', // carrier-grade NAT
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local, cloud metadata
  '172.16.0.0/12', // private
  '192.0.0.0/24', // IETF protocol assignments
  '192.0.2.0/24', // documentation
  '192.88.99.0/24', // 6to4 relay
  '192.168.0.0/16', // private
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24', // documentation
  '203.0.113.0/24', // documentation
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, including broadcast
];

/** IPv6 ranges blocked the same way; IPv4-mapped addresses are checked as IPv4. */
export const BLOCKED_IPV6: readonly string[] = [
  '::/96', // unspecified, loopback and deprecated IPv4-compatible addresses
  '64:ff9b::/96', // NAT64
  '100::/64', // discard
  '2001:db8::/32', // documentation
  '2002::/16', // 6to4
  'fc00::/7', // unique local
  'fe80::/10', // link-local
  'ff00::/8', // multicast
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

/** Decides which addresses may be connected to. */
export class AddressPolicy {
  private readonly blocked = new BlockList();
  private readonly allowed = new BlockList();

  /** `allow` holds CIDR ranges reachable despite the block list (`--allow-network`). */
  constructor(allow: readonly string[] = []) {
    for (const cidr of BLOCKED_IPV4) addCidr(this.blocked, cidr, 'blocked');
    for (const cidr of BLOCKED_IPV6) addCidr(this.blocked, cidr, 'blocked');
    for (const cidr of allow) addCidr(this.allowed, cidr, 'allowNetwork');
  }

  /** Whether connecting to this IP literal is refused. */
  isBlocked(ip: string): boolean {
    const address = unmapIPv4(ip);
    const family = isIP(address);
    if (family === 0) return true;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (this.allowed.check(address, type)) return false;
    return this.blocked.check(address, type);
  }

  /**
   * The address to connect to for `hostname`: an IP literal is checked as it is; a name is
   * resolved once and refused if any of its addresses is blocked.
   */
  async pick(hostname: string, resolver: Resolver): Promise<string> {
    if (isIP(hostname) !== 0) {
      if (this.isBlocked(hostname))
        throw new BlockedAddressError(`address ${hostname} is in a blocked range`);
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
    if (bad) throw new BlockedAddressError(`${hostname} resolves to ${bad.address}, in a blocked range`);
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
