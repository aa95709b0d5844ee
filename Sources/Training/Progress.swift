// Progress of long commands: a bar with counts and ETA on a terminal, one plain line per update otherwise.

import Foundation

/// A progress bar with ETA on a terminal; plain lines otherwise.
public final class Progress {
    let total, start: Int
    let isTerminal: Bool
    let output: (String) -> Void
    let began = DispatchTime.now().uptimeNanoseconds

    public init(total: Int, start: Int, isTerminal: Bool, output: @escaping (String) -> Void) {
        (self.total, self.start, self.isTerminal, self.output) = (total, start, isTerminal, output)
    }

    public func update(step: Int, loss: Float, headline: (name: String, value: Float)?, validation: Float?, itemsPerSecond: Double,
                       unit: String) {
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - began) * 1e-9
        let rate = Double(step - start) / max(elapsed, 1e-9)
        let eta = rate > 0 ? Double(total - step) / rate : 0
        let shown = headline.map { String(format: "  %@ %.3f", $0.name, $0.value) } ?? ""
        let status = String(format: "step %d/%d  loss %.4f%@%@  %.0f %@/s  ETA %@", step, total, loss, shown,
                            validation.map { String(format: "  val %.4f", $0) } ?? "", itemsPerSecond, unit, Progress.clock(eta))
        if isTerminal {
            let width = 30, filled = Int(Double(width) * Double(step) / Double(max(total, 1)))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardOutput.write(Data("\r\(bar) \(status)\u{1B}[K".utf8))
        } else {
            output(status)
        }
    }

    public func finish() { if isTerminal { FileHandle.standardOutput.write(Data("\n".utf8)) } }

    public static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

