// The MPI world (Open MPI through the CMPI shim) as a `Collective`: rank, size, sums, broadcast, all-gather, barrier.
// A process belongs to an MPI run when mpirun started it (`MPIWorld.isLaunchedByMPI`); then `MPIWorld.start()`
// initialises MPI once, and a failing rank ends the whole job with `abort(message:)`.

import CMPI
import Foundation
import TensorCore

/// The processes of one `mpirun` job (MPI_COMM_WORLD).
public final class MPIWorld: Collective {
    public let rank: Int
    public let size: Int

    /// Whether mpirun (Open MPI, or a PMI/PMIx launcher) started this process.
    public static var isLaunchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"].contains { environment[$0] != nil }
    }

    nonisolated(unsafe) private static var started: MPIWorld?

    /// Initialises MPI (once per process) and returns the world.
    public static func start() -> MPIWorld {
        if let started { return started }
        var provided: Int32 = 0
        check(cmpi_init(&provided), "MPI_Init_thread")
        var rank: Int32 = 0, size: Int32 = 0
        check(cmpi_rank(&rank), "MPI_Comm_rank")
        check(cmpi_size(&size), "MPI_Comm_size")
        let world = MPIWorld(rank: Int(rank), size: Int(size))
        started = world
        return world
    }

    private init(rank: Int, size: Int) { (self.rank, self.size) = (rank, size) }

    /// Ends MPI cleanly (every rank must call it, after its last collective).
    public func finish() {
        _ = cmpi_finalize()
        MPIWorld.started = nil
    }

    /// Prints `message` as this rank's, then ends the job on every rank (MPI_Abort): what a rank that cannot go on
    /// (its data unreadable, its loss non-finite) does so that no other rank waits forever in a collective.
    public func abort(message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("error (rank \(rank) of \(size)): \(message)\n".utf8))
        _ = cmpi_abort(code)
        exit(code)
    }

    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) {
        for (start, count) in Self.chunks(values.count) {
            Self.check(cmpi_sum_float(values.baseAddress! + start, Int32(count)), "MPI_Reduce/MPI_Bcast (float sum)")
        }
    }

    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {
        for (start, count) in Self.chunks(values.count) {
            Self.check(cmpi_sum_double(values.baseAddress! + start, Int32(count)), "MPI_Reduce/MPI_Bcast (double sum)")
        }
    }

    public func allReduceMax(_ values: UnsafeMutableBufferPointer<Double>) {
        for (start, count) in Self.chunks(values.count) {
            Self.check(cmpi_max_double(values.baseAddress! + start, Int32(count)), "MPI_Allreduce (max)")
        }
    }

    public func broadcast(_ values: UnsafeMutableBufferPointer<Float>, root: Int) {
        for (start, count) in Self.chunks(values.count) {
            Self.check(cmpi_broadcast_float(values.baseAddress! + start, Int32(count), Int32(root)), "MPI_Bcast")
        }
    }

    public func allGather(_ local: UnsafeBufferPointer<Float>, into result: UnsafeMutableBufferPointer<Float>) {
        precondition(result.count == local.count * size, "all-gather: result \(result.count) for \(size) × \(local.count)")
        precondition(local.count < Int(Int32.max), "all-gather of \(local.count) floats per rank: over MPI's int count")
        guard local.count > 0 else { return }
        Self.check(cmpi_allgather_float(local.baseAddress!, Int32(local.count), result.baseAddress!), "MPI_Allgather")
    }

    public func reduceScatterSum(_ values: UnsafeBufferPointer<Float>, into own: UnsafeMutableBufferPointer<Float>) {
        precondition(values.count == own.count * size, "reduce-scatter: \(values.count) values for \(size) × \(own.count)")
        precondition(own.count < Int(Int32.max), "reduce-scatter of \(own.count) floats per rank: over MPI's int count")
        guard own.count > 0 else { return }
        Self.check(cmpi_reduce_scatter_float(values.baseAddress!, own.baseAddress!, Int32(own.count)), "MPI_Reduce_scatter_block")
    }

    public func barrier() { Self.check(cmpi_barrier(), "MPI_Barrier") }

    /// `count` split into pieces MPI's `int` counts can carry.
    private static func chunks(_ count: Int) -> [(Int, Int)] {
        let limit = 1 << 30
        return stride(from: 0, to: count, by: limit).map { ($0, min(limit, count - $0)) }
    }

    /// Ends the job with MPI's own description when a call fails (with the default error handler MPI aborts first).
    private static func check(_ code: Int32, _ call: String) {
        guard code != 0 else { return }
        var text = [CChar](repeating: 0, count: 512)
        var length: Int32 = 0
        _ = cmpi_error_string(code, &text, &length)
        let description = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        FileHandle.standardError.write(Data("error: \(call) failed: \(description)\n".utf8))
        _ = cmpi_abort(code)
        exit(1)
    }
}
