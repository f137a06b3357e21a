import dns, { type LookupAddress } from 'node:dns'
import net from 'node:net'
import { QvacError } from '../../shared/errors.ts'

// Not reachable as "the public internet": this host, its networks, and ranges with no public use.
const SPECIAL_IPV4: Array<[string, number]> = [
  ['0.0.0.0', 8], // "this network", 0.0.0.0 reaches this host
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4] // reserved, broadcast
]
const SPECIAL_IPV6: Array<[string, number]> = [
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID, …)
  ['2001:db8::', 32] // documentation
]

const special = new net.BlockList()
for (const [prefix, bits] of SPECIAL_IPV4) special.addSubnet(prefix, bits, 'ipv4')
for (const [prefix, bits] of SPECIAL_IPV6) special.addSubnet(prefix, bits, 'ipv6')
// Only 2000::/3 is global unicast; ULA fc00::/7, link-local fe80::/10, multicast ff00::/8 and the rest are not.
const globalUnicast = new net.BlockList()
globalUnicast.addSubnet('2000::', 3, 'ipv6')

/** Whether an IP address is a public internet address (IPv4-mapped and other IPv4-in-IPv6 forms by their IPv4). */
export function isPublicAddress(address: string): boolean {
  const ip = withoutZone(address)
  const family = net.isIP(ip)
  if (family === 4) return !special.check(ip, 'ipv4')
  if (family !== 6) return false
  const embedded = embeddedIpv4(ip)
  if (embedded !== null) return isPublicAddress(embedded)
  return globalUnicast.check(ip, 'ipv6') && !special.check(ip, 'ipv6')
}

/** What a refused destination throws; one message whatever the reason, so it tells nothing about the network. */
export function addressNotAllowed(): QvacError {
  return new QvacError('SOURCE_NOT_ALLOWED', 'remote peers may fetch only from public internet addresses')
}

/**
 * Which addresses the daemon may connect to for a caller: every address (the operator, or
 * `--allow-private-sources`), or public ones plus the private ranges the operator listed.
 * Hostnames are checked on the addresses they resolve to, at connect time (`lookup`), so a DNS
 * answer that changes between a check and the connection gains nothing.
 */
export class AddressPolicy {
  static readonly ANY = new AddressPolicy(true)

  readonly any: boolean
  private readonly extra: net.BlockList | null
  /** For http.request: resolves like dns.lookup and keeps only allowed addresses (undefined when all are). */
  readonly lookup: net.LookupFunction | undefined

  /** `true`: every address; `false`: public only; a list of CIDRs or addresses: public plus those. */
  constructor(allowPrivate: boolean | string[]) {
    this.any = allowPrivate === true
    this.extra = Array.isArray(allowPrivate) ? parseRanges(allowPrivate) : null
    this.lookup = this.any ? undefined : (hostname, options, callback) => this.guardedLookup(hostname, options, callback)
  }

  allows(address: string): boolean {
    if (this.any || isPublicAddress(address)) return true
    if (!this.extra) return false
    const ip = withoutZone(address)
    const family = net.isIP(ip)
    if (family === 0) return false
    const embedded = family === 6 ? embeddedIpv4(ip) : null
    return embedded !== null ? this.extra.check(embedded, 'ipv4') : this.extra.check(ip, family === 4 ? 'ipv4' : 'ipv6')
  }

  /** Refuses an IP-literal host at once (no I/O); a name only when none of its addresses is allowed. */
  async assertHost(hostname: string): Promise<void> {
    if (this.any) return
    const host = unbracket(hostname)
    if (net.isIP(withoutZone(host)) !== 0) {
      if (!this.allows(host)) throw addressNotAllowed()
      return
    }
    let addresses: LookupAddress[]
    try {
      addresses = await dns.promises.lookup(host, { all: true })
    } catch (err) {
      throw new QvacError('DOWNLOAD_FAILED', `cannot reach ${hostname}: ${(err as NodeJS.ErrnoException).code ?? 'lookup failed'}`)
    }
    if (!addresses.some((a) => this.allows(a.address))) throw addressNotAllowed()
  }

  /** The host of a URL as connect() sees it: checked before any socket is opened for an IP literal. */
  assertLiteral(hostname: string): void {
    const host = unbracket(hostname)
    if (!this.any && net.isIP(withoutZone(host)) !== 0 && !this.allows(host)) throw addressNotAllowed()
  }

  private guardedLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, options.all ? [] : '', 4)
      const allowed = addresses.filter((a) => this.allows(a.address))
      if (allowed.length === 0) return callback(addressNotAllowed() as unknown as NodeJS.ErrnoException, options.all ? [] : '', 4)
      if (options.all) return callback(null, allowed)
      callback(null, allowed[0].address, allowed[0].family)
    })
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

function parseRanges(ranges: string[]): net.BlockList {
  const list = new net.BlockList()
  for (const range of ranges) {
    const [address, bits, more] = range.trim().split('/')
    const family = net.isIP(address)
    const max = family === 4 ? 32 : 128
    const prefix = bits === undefined ? max : Number(bits)
    if (family === 0 || more !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits))) {
      throw new QvacError('INVALID_ARGUMENT', `not an address or CIDR range: "${range}"`)
    }
    list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6')
  }
  return list
}

/** The IPv4 address inside an IPv4-mapped, -compatible, -translated, NAT64 or 6to4 IPv6 address. */
function embeddedIpv4(ip: string): string | null {
  const g = ipv6Groups(ip)
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0)
  let high: number
  let low: number
  if (zero(0, 5) && (g[5] === 0xffff || g[5] === 0)) [high, low] = [g[6], g[7]] // ::ffff:a.b.c.d, ::a.b.c.d (and :: / ::1)
  else if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) [high, low] = [g[6], g[7]] // ::ffff:0:a.b.c.d
  else if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) [high, low] = [g[6], g[7]] // 64:ff9b::a.b.c.d
  else if (g[0] === 0x2002) [high, low] = [g[1], g[2]] // 6to4
  else return null
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.')
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function ipv6Groups(ip: string): number[] {
  let text = ip
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number)
    text = text.slice(0, dotted.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16)
  }
  const [head, tail] = text.split('::')
  const parse = (part: string | undefined) => (part ? part.split(':').map((x) => parseInt(x, 16)) : [])
  const first = parse(head)
  if (tail === undefined) return first
  const last = parse(tail)
  return [...first, ...new Array(8 - first.length - last.length).fill(0), ...last]
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

function withoutZone(address: string): string {
  const percent = address.indexOf('%')
  return percent === -1 ? address : address.slice(0, percent)
}
