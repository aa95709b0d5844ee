// Thread settings: the BLAS thread count and the split of large elementwise loops across cores.

import CBLAS
import Dispatch
import Foundation

/// Process-wide thread settings. Set them once at start-up (the CLI's `--threads`), before any work runs.
public enum Threads {
    nonisolated(unsafe) private static var elementwiseThreads = 1

    /// Sets the number of threads BLAS uses. Elementwise loops stay on one thread unless `setElementwiseCount` says
    /// otherwise: OpenBLAS's idle workers spin (with sched_yield) for a while after each GEMM, so splitting the
    /// elementwise work between them and the caller made training steps slower here, not faster (small CPC config,
    /// 2 cores: 7 of 7 alternating pairs of runs faster with one elementwise thread, by 3–20 %).
    public static func setCount(_ count: Int) {
        precondition(count >= 1, "thread count must be at least 1, got \(count)")
        openblas_set_num_threads(Int32(count))
    }

    /// Splits elementwise loops longer than 2¹⁷ elements across `count` threads (Dispatch).
    public static func setElementwiseCount(_ count: Int) {
        precondition(count >= 1, "thread count must be at least 1, got \(count)")
        elementwiseThreads = count
    }

    /// The number of threads BLAS uses.
    public static var blasCount: Int { Int(openblas_get_num_threads()) }

    /// The number of threads large elementwise loops are split across.
    public static var count: Int { elementwiseThreads }

    /// The number of processors OpenBLAS sees.
    public static var processorCount: Int { Int(openblas_get_num_procs()) }
}

/// Elementwise loops shorter than this run on one thread: below it, dispatch costs more than it saves.
let parallelThreshold = 1 << 17

/// Runs `body` over `0..<count` split into contiguous chunks, one per thread when `count` is large.
@inline(__always)
func parallelChunks(_ count: Int, _ body: (Range<Int>) -> Void) {
    let threads = Threads.count
    if threads <= 1 || count < parallelThreshold {
        body(0..<count)
        return
    }
    let chunk = (count + threads - 1) / threads
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: threads) { index in
            let start = index * chunk
            let end = min(count, start + chunk)
            if start < end { box.value(start..<end) }
        }
    }
}

/// The number of contiguous parts `rows` rows are split into for `parallelParts`: one per BLAS thread (the
/// `--threads` count), with at least `minimumPerPart` rows each.
func partCount(_ rows: Int, minimumPerPart: Int) -> Int {
    max(1, min(Threads.blasCount, rows / max(1, minimumPerPart)))
}

/// Runs `body(part, rows)` for `parts` contiguous ranges of `0..<rows`, on that many threads. Callers that
/// reduce keep one partial result per part and combine them in part order, so results depend on the thread count
/// only, never on timing.
func parallelParts(_ rows: Int, parts: Int, _ body: (Int, Range<Int>) -> Void) {
    if parts <= 1 { body(0, 0..<rows); return }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            box.value(part, rows * part / parts ..< rows * (part + 1) / parts)
        }
    }
}

/// Marks a value as safe to share across the worker threads of one `parallelChunks` call (each writes its own range).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// OpenBLAS picks its kernels once, when it loads, from the processor it recognises. Debian's 0.3.21 does not know
/// recent Intel server parts (e.g. family 6 model 207) and falls back to SSE3 kernels; measured here, a SimCLR step
/// took 3.4 s with them and 2.1 s with the AVX-512 ones.
public enum BLASKernels {
    /// The core OpenBLAS runs with ("Prescott", "Haswell", "SkylakeX", …).
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// When OpenBLAS fell back to its generic kernels on a processor with AVX2/AVX-512, and the user did not choose
    /// a core (`OPENBLAS_CORETYPE`), restarts this process with the matching core type set. Returns when nothing is
    /// to be done (or the restart failed).
    public static func restartWithFasterKernelsIfNeeded() {
        guard getenv("OPENBLAS_CORETYPE") == nil, getenv("SWIFTCPC_BLAS_RESTARTED") == nil,
              coreName.lowercased() == "prescott", let suggested = swiftcpc_suggested_blas_core() else { return }
        setenv("OPENBLAS_CORETYPE", suggested, 1)
        setenv("SWIFTCPC_BLAS_RESTARTED", "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }
}

/// Adds parts 1 ..< `parts` of the `size`-value partial results laid out one after another at `partials` into part 0,
/// in part order (so that a reduction split across threads depends on the thread count only).
func addPartials<Scalar: FloatingPoint>(_ partials: UnsafeMutablePointer<Scalar>, parts: Int, size: Int) {
    for part in 1..<max(parts, 1) {
        let source = partials + part * size
        for index in 0..<size { partials[index] += source[index] }
    }
}
