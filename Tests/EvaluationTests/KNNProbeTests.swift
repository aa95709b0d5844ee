// The weighted kNN probe: the heap-based selection against the sort-everything oracle, and separable clusters.

import Evaluation
import Testing
import TensorCore

@Suite struct KNNProbeTests {
    @Test func matchesTheReferenceOnRandomData() {
        var g = RandomGenerator(seed: 21)
        let train = Tensor.normal([300, 6], generator: &g), test = Tensor.normal([40, 6], generator: &g)
        let labels = (0..<300).map { _ in g.nextInt(below: 4) }
        for k in [1, 7, 200, 500] {
            let fast = KNNProbe.predict(train: train, trainLabels: labels, test: test, classes: 4, neighbours: k, temperature: 0.1)
            let rows = { (t: Tensor) in (0..<t.shape[0]).map { Array(t.scalars[($0 * 6)..<($0 * 6 + 6)]) } }
            let slow = KNNProbe.predictReference(train: rows(train), trainLabels: labels, test: rows(test), classes: 4, neighbours: k,
                                                 temperature: 0.1)
            #expect(fast == slow, "k = \(k)")
        }
    }

    @Test func separatesClustersAndReportsAFraction() {
        var g = RandomGenerator(seed: 5)
        func cluster(_ centre: [Float], _ n: Int) -> [Float] { (0..<n).flatMap { _ in centre.map { $0 + 0.1 * g.nextNormal() } } }
        let train = Tensor(cluster([1, 0, 0], 50) + cluster([0, 1, 0], 50), shape: [100, 3])
        let test = Tensor(cluster([1, 0, 0], 10) + cluster([0, 1, 0], 10), shape: [20, 3])
        let result = Probes.knn(name: "x", train: train, trainLabels: (0..<100).map { $0 / 50 }, test: test,
                                testLabels: (0..<20).map { $0 / 10 }, classes: 2, neighbours: 20)
        #expect(result.accuracy == 1 && result.task == "knn" && result.testItems == 20)
    }
}
