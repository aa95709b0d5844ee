// Freed tensor buffers kept for reuse, by exact size.
//
// A training step allocates the same activations and gradients, of the same sizes, on every step. Handed back to
// malloc, large freed blocks fragment the heap: the next step's allocations land partly in memory the process has
// never touched, and every first touch is a page fault in which the kernel zeroes the page. On the project's 2-vCPU
// virtual machine such a fault costs ~40 µs (the host backs the page at that moment), and a SimCLR step spent a
// fifth of its CPU time in them. Served from this cache, a step's buffers are the previous step's, already mapped.

import Foundation
import Synchronization

/// A cache of freed tensor buffers (64-byte aligned) from which ``TensorStorage`` takes a buffer of the exact size
/// it needs before asking malloc. Only buffers of at least ``minimumBytes`` are kept, and at most ``capacityBytes``
/// in all (a buffer that would exceed it goes back to malloc).
public enum BufferCache {
    /// Smaller buffers go straight back to malloc, whose bins serve them well.
    public static let minimumBytes = 64 << 10

    /// The most bytes the cache holds: an eighth of the machine's memory, at most 4 GiB.
    public static let capacityBytes = Swift.min(4 << 30, Int(ProcessInfo.processInfo.physicalMemory / 8))

    private struct State {
        /// Free buffers (addresses) by byte count, the last freed last.
        var free: [Int: [UInt]] = [:]
        var bytes = 0
    }

    private static let state = Mutex(State())

    /// A cached buffer of exactly `byteCount` bytes, or nil (allocate one).
    static func take(byteCount: Int) -> UnsafeMutableRawPointer? {
        guard byteCount >= minimumBytes else { return nil }
        let address: UInt? = state.withLock { state in
            guard let address = state.free[byteCount]?.popLast() else { return nil }
            state.bytes -= byteCount
            return address
        }
        return address.flatMap { UnsafeMutableRawPointer(bitPattern: $0) }
    }

    /// Keeps `buffer` (`byteCount` bytes) for a later `take`, or deallocates it when it is small or the cache full.
    static func give(_ buffer: UnsafeMutableRawPointer, byteCount: Int) {
        let address = UInt(bitPattern: buffer)
        let kept = byteCount >= minimumBytes && state.withLock { state in
            guard state.bytes + byteCount <= capacityBytes else { return false }
            state.free[byteCount, default: []].append(address)
            state.bytes += byteCount
            return true
        }
        if !kept { buffer.deallocate() }
    }

    /// How many free buffers of exactly `byteCount` bytes the cache holds.
    public static func held(byteCount: Int) -> Int { state.withLock { $0.free[byteCount]?.count ?? 0 } }

    /// Gives every cached buffer back to malloc.
    public static func empty() {
        let addresses: [UInt] = state.withLock { state in
            let all = state.free.values.flatMap { $0 }
            state.free = [:]
            state.bytes = 0
            return all
        }
        for address in addresses { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() }
    }
}
