// The weighted k-nearest-neighbour probe that solo-learn and lightly report for self-supervised image features
// (Wu et al. 2018, "Unsupervised Feature Learning via Non-Parametric Instance Discrimination"): features are
// L2-normalised, each test image takes its k most cosine-similar training images, and each neighbour votes for its
// class with weight exp(similarity / T). No training, no hyper-parameter search: it reads the geometry as it is.
//
// Glossary: N training rows, M test rows, D features, k neighbours, L classes.

import Foundation
import TensorCore

public enum KNNProbe {
    /// The predicted class of each test row. Shapes: `train` `[N, D]`, `test` `[M, D]`.
    public static func predict(train: Tensor, trainLabels: [Int], test: Tensor, classes: Int, neighbours k: Int = 200,
                               temperature: Float = 0.1) -> [Int] {
        precondition(train.rank == 2 && test.rank == 2 && train.shape[1] == test.shape[1], "kNN needs [N, D] and [M, D] features")
        precondition(trainLabels.count == train.shape[0] && trainLabels.allSatisfy { $0 >= 0 && $0 < classes }, "kNN labels")
        let n = train.shape[0], m = test.shape[0], k = min(k, n)
        let bank = withoutGrad { train.l2Normalized(alongAxis: 1) }, queries = withoutGrad { test.l2Normalized(alongAxis: 1) }
        var predictions = [Int](repeating: 0, count: m)
        let block = 512
        var start = 0
        let stage = StageProgress.begin("kNN", total: m, unit: "test items")
        defer { stage?.finish() }
        while start < m {
            let rows = min(block, m - start)
            defer { stage?.advance(by: rows) }
            let similarities = withoutGrad { matmul(queries.sliced(alongAxis: 0, start: start, length: rows), bank, transposeB: true) }
            similarities.withUnsafeBufferPointer { s in
                var heapValues = [Float](repeating: 0, count: k), heapIndices = [Int](repeating: 0, count: k)
                for r in 0..<rows {
                    let row = s.baseAddress! + r * n
                    let count = topK(row, n, k, &heapValues, &heapIndices)
                    var votes = [Double](repeating: 0, count: classes)
                    for j in 0..<count { votes[trainLabels[heapIndices[j]]] += Foundation.exp(Double(heapValues[j] / temperature)) }
                    predictions[start + r] = votes.indices.max { votes[$0] < votes[$1] || (votes[$0] == votes[$1] && $0 > $1) }!
                }
            }
            start += rows
        }
        return predictions
    }

    /// The k largest of `values` (unordered) in the first slots of the heap arrays: a min-heap whose root is the
    /// smallest kept value, so most candidates are rejected with one comparison. Returns how many were kept.
    static func topK(_ values: UnsafePointer<Float>, _ n: Int, _ k: Int, _ heap: inout [Float], _ indices: inout [Int]) -> Int {
        var size = 0
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var smallest = i
                if l < size && heap[l] < heap[smallest] { smallest = l }
                if r < size && heap[r] < heap[smallest] { smallest = r }
                if smallest == i { return }
                heap.swapAt(i, smallest)
                indices.swapAt(i, smallest)
                i = smallest
            }
        }
        for j in 0..<n {
            let v = values[j]
            if size < k {
                heap[size] = v
                indices[size] = j
                size += 1
                var i = size - 1
                while i > 0 && heap[(i - 1) / 2] > heap[i] {
                    heap.swapAt(i, (i - 1) / 2)
                    indices.swapAt(i, (i - 1) / 2)
                    i = (i - 1) / 2
                }
            } else if v > heap[0] {
                heap[0] = v
                indices[0] = j
                siftDown(0)
            }
        }
        return size
    }

    /// The straightforward oracle: sort every similarity (tests only).
    public static func predictReference(train: [[Float]], trainLabels: [Int], test: [[Float]], classes: Int, neighbours k: Int,
                                        temperature: Float) -> [Int] {
        func normalise(_ v: [Float]) -> [Float] { let norm = max(v.map { $0 * $0 }.reduce(0, +).squareRoot(), 1e-12); return v.map { $0 / norm } }
        let bank = train.map(normalise)
        return test.map { query in
            let q = normalise(query)
            let similarities = bank.map { zip($0, q).map(*).reduce(0, +) }
            let order = similarities.indices.sorted { similarities[$0] > similarities[$1] }.prefix(k)
            var votes = [Double](repeating: 0, count: classes)
            for j in order { votes[trainLabels[j]] += Foundation.exp(Double(similarities[j] / temperature)) }
            return votes.indices.max { votes[$0] < votes[$1] || (votes[$0] == votes[$1] && $0 > $1) }!
        }
    }
}

extension Probes {
    /// Test accuracy of the weighted kNN classifier over the training images' features.
    public static func knn(name: String, train: Tensor, trainLabels: [Int], test: Tensor, testLabels: [Int], classes: Int,
                           neighbours: Int = 200, temperature: Float = 0.1) -> ProbeResult {
        let predicted = KNNProbe.predict(train: train, trainLabels: trainLabels, test: test, classes: classes, neighbours: neighbours,
                                         temperature: temperature)
        let correct = zip(predicted, testLabels).filter { $0 == $1 }.count
        return ProbeResult(features: name, task: "knn", accuracy: Double(correct) / Double(max(testLabels.count, 1)), classes: classes,
                           testItems: testLabels.count, trainItems: trainLabels.count, learningRate: 0, epochs: 0, hidden: nil)
    }
}
