// The collective operations without MPI: one process is the identity, and a simulated second rank (whose data and
// gradients the test fixes) checks the all-gather's forward and reduce-scatter backward, the bucketed gradient
// average and the batch shards. The real two-process checks run under mpirun (cpc-mpi-check, in the end-to-end run).

import Testing
@testable import TensorCore

/// Rank `rank` of a world of two whose other rank is simulated: its all-gather contribution is `peerRows`, and each
/// float sum adds `peerSum` of the values (the other rank's contribution as a function of ours).
final class SimulatedPair: Collective, @unchecked Sendable {
    let rank: Int
    let size = 2
    let peerRows: [Float]
    let peerSum: ([Float]) -> [Float]
    let peerDoubleSum: ([Double]) -> [Double]
    private(set) var floatSums = 0

    init(rank: Int, peerRows: [Float] = [], peerSum: @escaping ([Float]) -> [Float] = { $0 },
         peerDoubleSum: @escaping ([Double]) -> [Double] = { $0.map { _ in 0 } }) {
        (self.rank, self.peerRows, self.peerSum, self.peerDoubleSum) = (rank, peerRows, peerSum, peerDoubleSum)
    }

    func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) {
        floatSums += 1
        let peer = peerSum(Array(values))
        for i in values.indices { values[i] += peer[i] }
    }
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {
        let peer = peerDoubleSum(Array(values))
        for i in values.indices { values[i] += peer[i] }
    }
    func allReduceMax(_ values: UnsafeMutableBufferPointer<Double>) {}
    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, root: Int) {}
    func allGather(_ local: UnsafeBufferPointer<Float>, into result: UnsafeMutableBufferPointer<Float>) {
        let parts = rank == 0 ? [Array(local), peerRows] : [peerRows, Array(local)]
        for (i, value) in parts.flatMap({ $0 }).enumerated() { result[i] = value }
    }
    func reduceScatterSum(_ values: UnsafeBufferPointer<Float>, into own: UnsafeMutableBufferPointer<Float>) {
        floatSums += 1
        let peer = peerSum(Array(values))
        for i in own.indices { own[i] = values[rank * own.count + i] + peer[rank * own.count + i] }
    }
    func barrier() {}
}

@Suite("Collectives")
struct CollectiveTests {
    @Test("one process: the all-gather is the tensor itself and the gradient average changes nothing")
    func singleProcess() {
        let world = SingleProcess.world
        let x = Tensor([1, 2, 3, 4], shape: [2, 2])
        #expect(world.allGathered(x) === x)
        x.grad = Tensor([5, 6, 7, 8], shape: [2, 2])
        world.averageGradients([x])
        #expect(x.grad!.scalars == [5, 6, 7, 8])
        #expect(world.summed([1.5, 2]) == [1.5, 2])
        #expect(world.gathered([3, 4]) == [3, 4])
    }

    @Test("the all-gather stacks the ranks in order; its backward sums every rank's gradient onto this rank's rows",
          arguments: [0, 1])
    func allGatherForwardAndBackward(rank: Int) {
        let peer: [Float] = [10, 20, 30, 40, 50, 60]
        // The other rank's upstream gradient of the gathered [4, 3]: its own weights w'.
        let peerWeights: [Float] = (0..<12).map { Float($0) * 0.5 - 2 }
        let world = SimulatedPair(rank: rank, peerRows: peer, peerSum: { _ in peerWeights })
        let x = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        x.requiresGrad = true
        let gathered = world.allGathered(x)
        #expect(gathered.shape == [4, 3])
        #expect(gathered.scalars == (rank == 0 ? x.scalars + peer : peer + x.scalars))
        let weights: [Float] = (0..<12).map { Float($0 % 5) - 1 }
        (gathered * Tensor(weights, shape: [4, 3])).sum().backward()
        let rows = rank * 6..<(rank * 6 + 6)
        #expect(x.grad!.scalars == rows.map { weights[$0] + peerWeights[$0] })
        #expect(world.floatSums == 1)
    }

    @Test("gradients are averaged bucket by bucket and unpacked onto the right parameters")
    func bucketedAverage() {
        // The other rank's gradients are three times ours: the average is twice ours.
        let world = SimulatedPair(rank: 0, peerSum: { $0.map { 3 * $0 } })
        let shapes = [[3, 2], [5], [2, 2], [7]]
        let parameters = shapes.map { Tensor.zeros($0) }
        for (i, p) in parameters.enumerated() where i != 2 {
            p.grad = Tensor((0..<p.count).map { Float(i * 100 + $0) }, shape: p.shape)
        }
        world.averageGradients(parameters, bucketElements: 8)
        for (i, p) in parameters.enumerated() where i != 2 {
            #expect(p.grad!.scalars == (0..<p.count).map { 2 * Float(i * 100 + $0) })
        }
        #expect(parameters[2].grad == nil)
        // Buckets of at most 8: [6], [5], [7] (a parameter larger than the bucket gets one of its own).
        #expect(world.floatSums == 3)
    }

    @Test("a batch's shards are the ranks' contiguous rows of every view, label, item and frame label")
    func batchShards() {
        let views = [Tensor((0..<12).map(Float.init), shape: [4, 3]), Tensor((100..<108).map(Float.init), shape: [4, 2])]
        let batch = Batch(views: views, labels: [7, 8, 9, 10], items: [40, 41, 42, 43], index: 5,
                          frameLabels: [0, 1, 2, 3, 4, 5, 6, 7])
        let shard = batch.shard(rank: 1, of: 2)
        #expect(shard.count == 2 && shard.index == 5)
        #expect(shard.views[0].scalars == [6, 7, 8, 9, 10, 11])
        #expect(shard.views[1].scalars == [104, 105, 106, 107])
        #expect(shard.labels == [9, 10] && shard.items == [42, 43] && shard.frameLabels == [4, 5, 6, 7])
        #expect(batch.shard(rank: 0, of: 1).views[0] === batch.views[0])
    }

    @Test("synchronised batch norm: this rank's rows of the output and of the input gradient equal one process's on both ranks' rows")
    func synchronizedBatchNorm() {
        let (n, c) = (3, 2)
        var generator = RandomGenerator(seed: 3)
        func values(_ count: Int) -> [Float] { (0..<count).map { _ in generator.nextNormal() } }
        let (mine, theirs, upstream, theirUpstream) = (values(n * c), values(n * c), values(n * c), values(n * c))
        let (weight, bias) = (Tensor([1.5, 0.5]), Tensor([0.1, -0.2]))
        // One process on both ranks' rows.
        let whole = Tensor(mine + theirs, shape: [2 * n, c])
        whole.requiresGrad = true
        let (reference, _, referenceVariance) = whole.batchNormalized(weight: weight, bias: bias, epsilon: 1e-5)
        (reference * Tensor(upstream + theirUpstream, shape: [2 * n, c])).sum().backward()
        // The other rank's sums: [Σx, Σx², rows] in the forward, [Σdy, Σdy·x] in the backward.
        func channelSums(_ a: [Float], _ b: [Float]) -> ([Double], [Double]) {
            ((0..<c).map { j in (0..<n).reduce(0.0) { $0 + Double(a[$1 * c + j]) } },
             (0..<c).map { j in (0..<n).reduce(0.0) { $0 + Double(a[$1 * c + j]) * Double(b[$1 * c + j]) } })
        }
        let world = SimulatedPair(rank: 0, peerDoubleSum: { values in
            if values.count == 2 * c + 1 {
                let (sums, squares) = channelSums(theirs, theirs)
                return sums + squares + [Double(n)]
            }
            let (sums, products) = channelSums(theirUpstream, theirs)
            return sums + products
        })
        let x = Tensor(mine, shape: [n, c])
        x.requiresGrad = true
        let (output, _, variance) = x.batchNormalized(weight: weight, bias: bias, epsilon: 1e-5, world: world)
        (output * Tensor(upstream, shape: [n, c])).sum().backward()
        for (a, b) in zip(output.scalars, reference.scalars.prefix(n * c)) { #expect(abs(a - b) < 1e-5) }
        for (a, b) in zip(x.grad!.scalars, whole.grad!.scalars.prefix(n * c)) { #expect(abs(a - b) < 1e-5) }
        for (a, b) in zip(variance, referenceVariance) { #expect(abs(a - b) < 1e-6) }
    }
}
