import Glibc

// `--agent-pollers`: the load balancers' addresses, as the operator names them. A TCP peer's
// source address cannot be forged without its handshake, so a range of addresses is evidence
// of who polls that a stranger cannot fake cheaply; anything learnt from the requests alone
// can be.

/// An IPv4 or IPv6 address with a prefix length: `10.0.0.7`, `10.0.0.0/24`, `fd00::/8`.
struct AddressRange: Equatable {
    let ip: PeerIP
    let bits: Int

    /// Parses `ADDR` or `ADDR/BITS`; the words of the problem otherwise.
    static func parse(_ text: String) -> Result<AddressRange, Problem> {
        let parts = text.bytes.split(separator: slash, maxSplits: 1, omittingEmptySubsequences: false).map(Array.init)
        let address = parts[0].string
        var raw = [UInt8](repeating: 0, count: 16)
        let isV6: Bool
        if address.bytes.contains(colon) {
            guard inet_pton(AF_INET6, address, &raw) == 1 else { return .failure(Problem("'\(text.escaped)' is no IPv6 address")) }
            isV6 = true
        } else {
            guard inet_pton(AF_INET, address, &raw) == 1 else { return .failure(Problem("'\(text.escaped)' is no IPv4 or IPv6 address")) }
            isV6 = false
        }
        let most = isV6 ? 128 : 32
        var bits = most
        if parts.count == 2 {
            guard let b = parts[1].withBytes({ $0.decimal(limit: most) }) else {
                return .failure(Problem("'\(text.escaped)': the prefix length after / is a number from 0 to \(most)"))
            }
            bits = b
        }
        return .success(AddressRange(ip: PeerIP(bytes: raw, isV6: isV6), bits: bits))
    }

    /// Whether `peer` is in the range (an IPv4 peer never in an IPv6 range, nor the reverse:
    /// the listening socket reports IPv4-mapped peers as IPv4).
    func contains(_ peer: PeerIP) -> Bool {
        guard peer.isV6 == ip.isV6 else { return false }
        var left = bits
        for i in 0..<(ip.isV6 ? 16 : 4) where left > 0 {
            let mask: UInt8 = left >= 8 ? 0xff : ~(0xff >> UInt8(left))
            if peer.byte(i) & mask != ip.byte(i) & mask { return false }
            left -= 8
        }
        return true
    }
}
