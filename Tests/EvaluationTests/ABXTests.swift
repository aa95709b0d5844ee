// ABX: dynamic time warping, constructed cases with known answers, item extraction from frame labels, and a small
// problem scored by an independent NumPy implementation (Tests/Fixtures/generate_abx.py).

import Evaluation
import Foundation
import Testing
import TensorCore
import TestSupport

@Suite struct ABXTests {
    @Test func dtwMatchesTheReference() throws {
        let fixture = try Fixture("abx")
        for case let entry as [String: Any] in try fixture.raw("small", "dtw") as! [Any] {
            let (n, m) = (entry["rows"] as! Int, entry["columns"] as! Int)
            let distances = (entry["distances"] as! [Double]).map(Float.init)
            let value = ABX.dtw(distances, rows: n, columns: m)
            #expect(abs(Double(value) - (entry["value"] as! Double)) < 1e-6, "\(n)×\(m)")
        }
        // Identical sequences are at distance 0; a diagonal path of equal steps averages them.
        #expect(ABX.dtw([0, 1, 1, 1, 0, 1, 1, 1, 0], rows: 3, columns: 3) == 0)
        #expect(ABX.dtw([0.3, 1, 1, 0.3], rows: 2, columns: 2) == Float(0.3))
    }

    @Test func smallProblemMatchesTheReference() throws {
        let fixture = try Fixture("abx")
        let features = try fixture.tensor("small", "features")
        let items = (try fixture.raw("small", "items") as! [[Int]]).map {
            ABXItem(start: $0[0], count: $0[1], phone: $0[2], context: $0[3], speaker: $0[4])
        }
        let result = ABX.evaluate(features: features, items: items)
        #expect(abs(result.within! - (try fixture.number("small", "within"))) < 1e-9, "within \(result.within!)")
        #expect(abs(result.across! - (try fixture.number("small", "across"))) < 1e-9, "across \(result.across!)")
        #expect(result.withinGroups == (try fixture.raw("small", "within_groups") as! Int))
        #expect(result.acrossGroups == (try fixture.raw("small", "across_groups") as! Int))
        #expect(result.items == items.count)
    }

    /// Two contexts × two speakers × two phones, three tokens each; `value(phone, speaker, token, frame)` gives a
    /// frame's features.
    func constructed(_ value: (Int, Int, Int, Int) -> [Float]) -> (Tensor, [ABXItem]) {
        var rows: [Float] = [], items: [ABXItem] = [], count = 0
        for context in 0..<2 {
            for speaker in 0..<2 {
                for phone in 0..<2 {
                    for token in 0..<3 {
                        let frames = 3 + (token + phone) % 2
                        for frame in 0..<frames { rows += value(phone, speaker, token, frame) }
                        items.append(ABXItem(start: count, count: frames, phone: phone, context: context, speaker: speaker))
                        count += frames
                    }
                }
            }
        }
        return (Tensor(rows, shape: [count, rows.count / count]), items)
    }

    @Test func constructedCasesGiveTheirKnownAnswers() {
        // Each phone points one way, whatever the speaker: no error.
        let (clean, items) = constructed { phone, _, _, _ in phone == 0 ? [1, 0, 0] : [0, 1, 0] }
        let perfect = ABX.evaluate(features: clean, items: items)
        #expect(perfect.within == 0 && perfect.across == 0)
        #expect(perfect.withinGroups == 2 * 2 * 2 && perfect.acrossGroups == 2 * 2 * 2)
        // Features that encode the token, not the phone (token 0 of either phone looks like token 0 of the other):
        // every A is as far from X as B or farther. Within speaker, X's own-phone tokens are other tokens (far) and B
        // holds one token like X (near) and two far ones: error (1 + 0.5·2)/3 = 2/3.
        let (swapped, _) = constructed { _, _, token, _ in token == 0 ? [1, 0, 0] : (token == 1 ? [0, 1, 0] : [0, 0, 1]) }
        let confused = ABX.evaluate(features: swapped, items: items)
        #expect(abs(confused.within! - 2.0 / 3) < 1e-12)
        // Speaker-only features make every distance across equal to every other: all ties, error one half.
        let (speakerOnly, _) = constructed { _, speaker, _, _ in speaker == 0 ? [1, 1, 0] : [0, 1, 1] }
        #expect(ABX.evaluate(features: speakerOnly, items: items).across == 0.5)
    }

    @Test func itemsAreRunsOfOnePhoneBetweenTwoPhones() {
        // One utterance: sil sil a a a b c c sil → items a (sil_b), b (a_c), c (b_sil); sil makes none.
        let labels = [0, 0, 1, 1, 1, 2, 3, 3, 0]
        let set = FrameSet(features: Tensor.zeros([9, 2]), labels: labels, utterances: [("u", 0, 9, 4)])
        let phones = ABX.items(of: set, excluding: [0], segment: .phone)
        #expect(phones.map(\.phone) == [1, 2, 3] && phones.map(\.start) == [2, 5, 6] && phones.map(\.count) == [3, 1, 2])
        #expect(Set(phones.map(\.context)).count == 3 && phones.allSatisfy { $0.speaker == 4 })
        // Triphones (the default, as Libri-light's item files): from the previous run's first frame to the next
        // run's last — sil sil a a a b, a a a b c c, b c c sil — with the same phones, contexts and speakers.
        let triphones = ABX.items(of: set, excluding: [0])
        #expect(triphones.map(\.start) == [0, 2, 5] && triphones.map(\.count) == [6, 6, 4])
        #expect(triphones.map(\.phone) == phones.map(\.phone) && triphones.map(\.context) == phones.map(\.context)
                && triphones.map(\.speaker) == phones.map(\.speaker))
    }

    @Test func bothSegmentsScoreTheCentralPhone() {
        // Two tokens each of phones 1 and 2 in the context 3 _ 4 (3 and 4 make no items), one speaker. When phones 1
        // and 2 have the same frames every triplet ties (error 1/2) whichever frames make an item; when they differ,
        // none errs — the shared context frames of a triphone do not hide the central phone.
        let labels = [3, 1, 4, 3, 2, 4, 3, 1, 4, 3, 2, 4]
        var blind = [Float](), marked = [Float]()
        for label in labels {
            blind += label == 1 || label == 2 ? [1, 0, 0] : [0, 0, 1]
            marked += label == 1 ? [1, 0, 0] : label == 2 ? [0, 1, 0] : [0, 0, 1]
        }
        let utterances = [("u", 0, 12, 0)]
        let blindSet = FrameSet(features: Tensor(blind, shape: [12, 3]), labels: labels, utterances: utterances)
        let markedSet = FrameSet(features: Tensor(marked, shape: [12, 3]), labels: labels, utterances: utterances)
        for segment in ABXSegment.allCases {
            let items = ABX.items(of: blindSet, excluding: [3, 4], segment: segment)
            #expect(items.count == 4 && items.allSatisfy { $0.count == (segment == .triphone ? 3 : 1) })
            #expect(ABX.evaluate(features: blindSet.features, items: items).within == 0.5)
            #expect(ABX.evaluate(features: markedSet.features, items: items).within == 0)
        }
    }
}
