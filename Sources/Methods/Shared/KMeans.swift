// Spherical k-means on unit rows (DeepCluster v2's clustering, Caron et al. 2020, appendix): assignment by the
// largest dot product with the centroids (one BLAS product per block of rows), centroids the means of their rows
// renormalised to unit length, an empty cluster keeping its centroid. Initialisation from distinct random rows
// (as DeepCluster v2) or by k-means++ (Arthur and Vassilvitskii 2007) on the squared distance 2 − 2·cos.
//
// Glossary: n rows, d width, k clusters.

import TensorCore

/// How k-means picks its first centroids.
public enum KMeansInitialization: String, Codable, Sendable, CaseIterable {
    case random
    case plusPlus = "kmeans++"
}

/// Spherical k-means on unit rows (DeepCluster v2's clustering), through BLAS.
public enum SphericalKMeans {
    /// The index of the largest dot product of each of `n` rows `[n, d]` with `k` centroids `[k, d]`, and the
    /// largest dot products. Rows go through BLAS in blocks, so the n × k products are never all held.
    public static func assign(rows: UnsafePointer<Float>, n: Int, d: Int, centroids: UnsafePointer<Float>, k: Int) -> (indices: [Int], best: [Float]) {
        var indices = [Int](repeating: 0, count: n), best = [Float](repeating: -.infinity, count: n)
        let block = 4096
        var products = [Float](repeating: 0, count: Swift.min(block, n) * k)
        products.withUnsafeMutableBufferPointer { p in
            var start = 0
            while start < n {
                let m = Swift.min(block, n - start)
                BLAS.sgemm(transposeA: false, transposeB: true, m: m, n: k, k: d, a: rows + start * d, lda: d,
                           b: centroids, ldb: d, c: p.baseAddress!, ldc: k)
                for i in 0..<m {
                    var (arg, value) = (0, p[i * k])
                    for j in 1..<Swift.max(k, 1) where p[i * k + j] > value { (arg, value) = (j, p[i * k + j]) }
                    (indices[start + i], best[start + i]) = (arg, value)
                }
                start += m
            }
        }
        return (indices, best)
    }

    /// `k` initial centroids `[k, d]` chosen among the rows `[n, d]` (n ≥ k).
    public static func initialCentroids(rows: Tensor, k: Int, method: KMeansInitialization, generator: inout RandomGenerator) -> Tensor {
        precondition(rows.rank == 2 && k >= 1 && rows.shape[0] >= k, "k-means needs rows [n, d] with n ≥ k = \(k), found \(rows.shape)")
        let (n, d) = (rows.shape[0], rows.shape[1])
        var chosen: [Int]
        switch method {
        case .random:
            chosen = Array(generator.permutation(n).prefix(k))
        case .plusPlus:
            chosen = [generator.nextInt(below: n)]
            // The squared distance 2 − 2·cos of each row to its nearest chosen centroid.
            var nearest = [Double](repeating: .infinity, count: n)
            rows.withUnsafeBufferPointer { x in
                while chosen.count < k {
                    let last = x.baseAddress! + chosen[chosen.count - 1] * d
                    var total = 0.0
                    for i in 0..<n {
                        var dot: Float = 0
                        for j in 0..<d { dot += x[i * d + j] * last[j] }
                        nearest[i] = Swift.min(nearest[i], Swift.max(0, 2 - 2 * Double(dot)))
                        total += nearest[i]
                    }
                    // Draw a row with probability ∝ its squared distance (uniformly among the rest if all are 0).
                    var target = generator.nextDouble() * total, pick = n - 1
                    if total > 0 {
                        for i in 0..<n { target -= nearest[i]; if target < 0 { pick = i; break } }
                    } else {
                        let rest = (0..<n).filter { !chosen.contains($0) }
                        pick = rest[generator.nextInt(below: rest.count)]
                    }
                    chosen.append(pick)
                }
            }
        }
        return rows.indexSelect(alongAxis: 0, indices: chosen).detached()
    }

    /// `iterations` rounds of (assign, recompute) from `initial` `[k, d]` on unit rows `[n, d]`; returns the
    /// centroids and the assignment of every row to them.
    public static func fit(rows: Tensor, initial: Tensor, iterations: Int) -> (centroids: Tensor, assignments: [Int]) {
        precondition(rows.rank == 2 && initial.rank == 2 && rows.shape[1] == initial.shape[1],
                     "k-means expects rows [n, d] and centroids [k, d], found \(rows.shape) and \(initial.shape)")
        let (n, d, k) = (rows.shape[0], rows.shape[1], initial.shape[0])
        var centroids = initial.scalars
        var assignments: [Int] = []
        rows.withUnsafeBufferPointer { x in
            for round in 0...iterations {
                assignments = centroids.withUnsafeBufferPointer { assign(rows: x.baseAddress!, n: n, d: d, centroids: $0.baseAddress!, k: k).indices }
                if round == iterations { break }
                var sums = [Double](repeating: 0, count: k * d), counts = [Int](repeating: 0, count: k)
                for i in 0..<n {
                    let c = assignments[i]
                    counts[c] += 1
                    for j in 0..<d { sums[c * d + j] += Double(x[i * d + j]) }
                }
                for c in 0..<k where counts[c] > 0 {
                    var norm = 0.0
                    for j in 0..<d { norm += sums[c * d + j] * sums[c * d + j] }
                    let scale = 1 / Swift.max(norm.squareRoot(), 1e-12)
                    for j in 0..<d { centroids[c * d + j] = Float(sums[c * d + j] * scale) }
                }
            }
        }
        return (Tensor(centroids, shape: [k, d]), assignments)
    }
}
