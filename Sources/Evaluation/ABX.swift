// ABX phone discriminability (Schatz et al. 2013; the ZeroSpeech and Libri-light protocol that CPC_audio reports):
// is a phone X closer to another token A of its own phone than to a token B of another phone said in the same
// context? Within speaker, A, B and X share a speaker; across speakers, A and B share one and X has another.
//
// Items come from the frame labels: each maximal run of one phone that has a phone on either side is a token of that
// phone in the context (previous phone, next phone); silence tokens are left out. An item's features are the frames
// of the whole triphone (previous run, the phone, next run: the Libri-light / ZeroSpeech 2021 item files, whose onset
// is the previous phone's start and offset the next phone's end), or of the phone alone (`ABXSegment.phone`, the
// phoneme-level "within-context" ABX of Hallap et al. 2023).
// The distance between two items is dynamic time warping over the angular distance of their frames,
// acos(cos)/π, with the accumulated cost divided by the length of the warping path (the CPC_audio / Libri-light
// convention). Scores: for each group of triplets the error is the fraction of (A, B, X) with d(A, X) > d(B, X),
// ties counting one half; errors are averaged over contexts, then over speakers (pairs of speakers across), then
// over ordered phone pairs (A's phone, B's phone).
//
// Glossary: F frames of an item, D feature dimensions, c context, s speaker, p phone.

import CBLAS
import Foundation
import TensorCore

/// One token of a phone in context: rows of a feature matrix.
public struct ABXItem: Sendable, Equatable {
    /// The item's frames: rows `start ..< start + count` of the feature matrix.
    public var start: Int, count: Int
    /// Phone class, context (an index, e.g. of the (previous, next) phone pair) and speaker index.
    public var phone: Int, context: Int, speaker: Int

    /// An item of `count` frames from row `start`.
    public init(start: Int, count: Int, phone: Int, context: Int, speaker: Int) {
        (self.start, self.count, self.phone, self.context, self.speaker) = (start, count, phone, context, speaker)
    }
}

/// ABX errors within and across speakers.
public struct ABXResult: Codable, Sendable, Equatable {
    /// The within-speaker error, a fraction in [0, 1] (nil when no within-speaker triplet exists).
    public var within: Double?
    /// The across-speaker error, a fraction in [0, 1] (nil when no across-speaker triplet exists).
    public var across: Double?
    /// Items and the (context, speaker, phone-pair) groups that were scored within speaker and across.
    public var items: Int, withinGroups: Int, acrossGroups: Int

    enum CodingKeys: String, CodingKey {
        case within, across, items
        case withinGroups = "within_groups", acrossGroups = "across_groups"
    }
}

/// Which frames make an ABX item: the triphone around the phone token (Libri-light's item files) or the phone alone.
public enum ABXSegment: String, CaseIterable, Sendable {
    /// From the previous phone's first frame to the next phone's last (Libri-light, ZeroSpeech 2021, CPC_audio).
    case triphone
    /// The phone's own frames (the phoneme-level "within-context" ABX of Hallap, Dupoux and Dunbar 2023).
    case phone
}

public enum ABX {
    /// The items of the labelled frames of `set` (its utterances' rows and labels): runs of one phone with a
    /// phone on both sides, each spanning `segment`. `excluded` phones (silence) make no items but serve as contexts.
    public static func items(of set: FrameSet, excluding excluded: Set<Int>, segment: ABXSegment = .triphone) -> [ABXItem] {
        var items: [ABXItem] = []
        var contexts: [[Int]: Int] = [:]
        for utterance in set.utterances {
            let labels = Array(set.labels[utterance.start..<(utterance.start + utterance.count)])
            var runs: [(start: Int, count: Int, phone: Int)] = []
            for (t, label) in labels.enumerated() {
                if let last = runs.last, last.phone == label { runs[runs.count - 1].count += 1 } else { runs.append((t, 1, label)) }
            }
            guard runs.count >= 3 else { continue }
            for r in 1..<(runs.count - 1) where !excluded.contains(runs[r].phone) {
                let key = [runs[r - 1].phone, runs[r + 1].phone]
                let context = contexts[key] ?? contexts.count
                contexts[key] = context
                let (first, last) = segment == .triphone ? (r - 1, r + 1) : (r, r)
                items.append(ABXItem(start: utterance.start + runs[first].start,
                                     count: runs[last].start + runs[last].count - runs[first].start, phone: runs[r].phone,
                                     context: context, speaker: utterance.speaker))
            }
        }
        return items
    }

    /// The angular distance acos(u·v)/π of every row of `a` `[Fa, D]` to every row of `b` `[Fb, D]`, both with unit
    /// rows (a zero row is at distance 1 from any other row and 0 from another zero row), as one GEMM.
    static func angularDistances(_ a: [Float], rows: Int, _ b: [Float], columns: Int, dimension d: Int,
                                 zeroA: [Bool], zeroB: [Bool]) -> [Float] {
        var products = [Float](repeating: 0, count: rows * columns)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(columns), Int32(d), 1, a, Int32(d), b, Int32(d),
                    0, &products, Int32(columns))
        for i in 0..<rows {
            for j in 0..<columns {
                let k = i * columns + j
                if zeroA[i] || zeroB[j] {
                    products[k] = zeroA[i] && zeroB[j] ? 0 : 1
                } else {
                    products[k] = Float(Foundation.acos(Double(min(1, max(-1, products[k]))))) / Float.pi
                }
            }
        }
        return products
    }

    /// Dynamic time warping over a `[n, m]` frame-distance matrix: the accumulated cost of the cheapest monotone path
    /// from (0, 0) to (n − 1, m − 1) (steps down, right, diagonal), divided by the length of the path found by
    /// walking back (diagonal, then right, then down on ties).
    public static func dtw(_ distances: [Float], rows n: Int, columns m: Int) -> Float {
        precondition(n > 0 && m > 0 && distances.count == n * m)
        var cost = [Float](repeating: 0, count: n * m)
        cost[0] = distances[0]
        if n > 1 { for i in 1..<n { cost[i * m] = distances[i * m] + cost[(i - 1) * m] } }
        if m > 1 { for j in 1..<m { cost[j] = distances[j] + cost[j - 1] } }
        if n > 1 && m > 1 {
            for i in 1..<n {
                for j in 1..<m {
                    cost[i * m + j] = distances[i * m + j] + min(cost[(i - 1) * m + j], cost[(i - 1) * m + j - 1], cost[i * m + j - 1])
                }
            }
        }
        var (i, j, length) = (n - 1, m - 1, 1)
        while i > 0 && j > 0 {
            let up = cost[(i - 1) * m + j], left = cost[i * m + j - 1], diagonal = cost[(i - 1) * m + j - 1]
            if diagonal <= left && diagonal <= up { i -= 1; j -= 1 } else if left <= up { j -= 1 } else { i -= 1 }
            length += 1
        }
        length += i + j
        return cost[n * m - 1] / Float(length)
    }

    /// The within- and across-speaker ABX errors of `items` over the rows of `features` `[rows, D]`. Groups of one
    /// (context, speaker, phone) larger than `maxGroupSize` are cut to that many items, chosen with `seed`.
    public static func evaluate(features: Tensor, items allItems: [ABXItem], maxGroupSize: Int = 30, seed: UInt64 = 0) -> ABXResult {
        let d = features.shape[1]
        // Cap each (context, speaker, phone) group.
        var byGroup: [[Int]: [Int]] = [:]
        for (index, item) in allItems.enumerated() { byGroup[[item.context, item.speaker, item.phone], default: []].append(index) }
        var kept: [Int] = []
        var generator = RandomGenerator(seed: seed, stream: 0xAB)
        for key in byGroup.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            var members = byGroup[key]!
            if members.count > maxGroupSize {
                for i in stride(from: members.count - 1, to: 0, by: -1) { members.swapAt(i, generator.nextInt(below: i + 1)) }
                members = Array(members.prefix(maxGroupSize)).sorted()
            }
            kept += members
        }
        let items = kept.sorted().map { allItems[$0] }

        // Unit rows (zero rows marked).
        let scalars = features.scalars
        func unitRows(_ item: ABXItem) -> (values: [Float], zero: [Bool]) {
            var values = [Float](repeating: 0, count: item.count * d), zero = [Bool](repeating: false, count: item.count)
            for r in 0..<item.count {
                let base = (item.start + r) * d
                var norm: Float = 0
                for k in 0..<d { norm += scalars[base + k] * scalars[base + k] }
                if norm == 0 { zero[r] = true; continue }
                let scale = 1 / norm.squareRoot()
                for k in 0..<d { values[r * d + k] = scalars[base + k] * scale }
            }
            return (values, zero)
        }

        // Accumulators: within[(s, a, b)][c] and across[(sA, sX, a, b)][c] hold (error sum, triplets).
        var within: [[Int]: [Int: Double]] = [:], across: [[Int]: [Int: Double]] = [:]
        var byContext: [Int: [Int]] = [:]
        for (index, item) in items.enumerated() { byContext[item.context, default: []].append(index) }
        for context in byContext.keys.sorted() {
            let members = byContext[context]!
            guard Set(members.map { items[$0].phone }).count > 1 else { continue }  // no B for any A
            let rows = members.map { unitRows(items[$0]) }
            // Item distances, symmetric: the lower-indexed item gives the rows of the DTW.
            let n = members.count
            var distance = [Float](repeating: 0, count: n * n)
            for u in 0..<n {
                for v in (u + 1)..<n {
                    let (a, b) = (items[members[u]], items[members[v]])
                    let frames = angularDistances(rows[u].values, rows: a.count, rows[v].values, columns: b.count, dimension: d,
                                                  zeroA: rows[u].zero, zeroB: rows[v].zero)
                    let value = dtw(frames, rows: a.count, columns: b.count)
                    distance[u * n + v] = value
                    distance[v * n + u] = value
                }
            }
            // Local indices by (speaker, phone).
            var cell: [[Int]: [Int]] = [:]
            for (local, index) in members.enumerated() { cell[[items[index].speaker, items[index].phone], default: []].append(local) }
            let speakers = Set(members.map { items[$0].speaker }).sorted(), phones = Set(members.map { items[$0].phone }).sorted()
            func error(x: Int, a: Int, b: Int) -> Double {
                let (dxa, dxb) = (distance[x * n + a], distance[x * n + b])
                return dxa > dxb ? 1 : (dxa == dxb ? 0.5 : 0)
            }
            for s in speakers {
                for pa in phones {
                    guard let groupA = cell[[s, pa]] else { continue }
                    for pb in phones where pb != pa {
                        guard let groupB = cell[[s, pb]] else { continue }
                        if groupA.count > 1 {
                            var sum = 0.0, count = 0
                            for x in groupA { for a in groupA where a != x { for b in groupB { sum += error(x: x, a: a, b: b); count += 1 } } }
                            within[[s, pa, pb], default: [:]][context] = sum / Double(count)
                        }
                        for sx in speakers where sx != s {
                            guard let groupX = cell[[sx, pa]] else { continue }
                            var sum = 0.0, count = 0
                            for x in groupX { for a in groupA { for b in groupB { sum += error(x: x, a: a, b: b); count += 1 } } }
                            across[[s, sx, pa, pb], default: [:]][context] = sum / Double(count)
                        }
                    }
                }
            }
        }
        // Mean over contexts, then over the speaker keys, then over phone pairs.
        func score(_ table: [[Int]: [Int: Double]], phoneKey: ([Int]) -> [Int]) -> Double? {
            guard !table.isEmpty else { return nil }
            var perPair: [[Int]: (sum: Double, count: Int)] = [:]
            for (key, contexts) in table {
                let mean = contexts.values.reduce(0, +) / Double(contexts.count)
                let pair = phoneKey(key)
                perPair[pair] = ((perPair[pair]?.sum ?? 0) + mean, (perPair[pair]?.count ?? 0) + 1)
            }
            return perPair.values.map { $0.sum / Double($0.count) }.reduce(0, +) / Double(perPair.count)
        }
        return ABXResult(within: score(within) { [$0[1], $0[2]] }, across: score(across) { [$0[2], $0[3]] }, items: items.count,
                         withinGroups: within.values.reduce(0) { $0 + $1.count }, acrossGroups: across.values.reduce(0) { $0 + $1.count })
    }
}
