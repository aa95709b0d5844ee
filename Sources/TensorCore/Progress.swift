// Progress of long commands: a bar with counts and ETA on a terminal, one plain line per update otherwise. Here in
// TensorCore so that every target's long loops (corpus indexing, k-means, probes, training) can report a stage.

import Foundation

/// A progress bar with ETA on a terminal; plain lines otherwise.
public final class Progress {
    let total, start: Int
    let isTerminal: Bool
    let output: (String) -> Void
    let began = DispatchTime.now().uptimeNanoseconds
    /// The processes of a data-parallel run (shown on the line when more than one).
    public var ranks = 1

    /// A bar for steps `start`…`total`; `output` takes the plain lines when the output is not a terminal.
    public init(total: Int, start: Int, isTerminal: Bool, output: @escaping (String) -> Void) {
        (self.total, self.start, self.isTerminal, self.output) = (total, start, isTerminal, output)
    }

    /// Shows `step`, its loss, the headline metric, the validation loss when one was computed, the throughput and the ETA.
    public func update(step: Int, loss: Float, headline: (name: String, value: Float)?, validation: Float?, itemsPerSecond: Double,
                       unit: String) {
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - began) * 1e-9
        let rate = Double(step - start) / max(elapsed, 1e-9)
        let eta = rate > 0 ? Double(total - step) / rate : 0
        let shown = headline.map { String(format: "  %@ %.3f", $0.name, $0.value) } ?? ""
        let status = String(format: "step %d/%d  loss %.4f%@%@  %.0f %@/s%@  ETA %@", step, total, loss, shown,
                            validation.map { String(format: "  val %.4f", $0) } ?? "", itemsPerSecond, unit,
                            ranks > 1 ? " on \(ranks) ranks" : "", Progress.clock(eta))
        if isTerminal {
            Progress.redraw(fraction: Double(step) / Double(max(total, 1)), status: status)
        } else {
            output(status)
        }
    }

    /// Ends the bar line on a terminal.
    public func finish() { if isTerminal { FileHandle.standardOutput.write(Data("\n".utf8)) } }

    /// Rewrites the terminal's current line with a 30-character bar filled to `fraction` and `status`.
    static func redraw(fraction: Double, status: String) {
        let width = 30, filled = max(0, min(width, Int(Double(width) * fraction)))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardOutput.write(Data("\r\(bar) \(status)\u{1B}[K".utf8))
    }

    /// `m:ss`, or `h:mm:ss` from an hour up.
    public static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

/// One stage of a long command (extracting features, fitting a probe, searching neighbours): a bar with counts and
/// ETA on a terminal; otherwise one line when the stage ends, and one a minute while it runs.
///
/// Library code opens stages with `StageProgress.begin`; they report only where a command bound a console with
/// `StageProgress.$console.withValue(.standardOutput) { … }` (elsewhere, as in tests, `begin` returns nil).
public final class StageProgress {
    /// Where stages report.
    public struct Console: Sendable {
        /// Whether lines are redrawn in place (a bar) rather than printed one after another.
        public let isTerminal: Bool
        /// Prints one whole line.
        public let write: @Sendable (String) -> Void
        /// A console that prints lines with `write`.
        public init(isTerminal: Bool, write: @escaping @Sendable (String) -> Void) { (self.isTerminal, self.write) = (isTerminal, write) }
        /// Standard output, flushed after each line; a bar when it is a terminal.
        public static let standardOutput = Console(isTerminal: isatty(STDOUT_FILENO) != 0) { print($0); fflush(nil) }
        /// Standard error, for commands whose standard output is data (`prepare --json`); never a bar.
        public static let standardError = Console(isTerminal: false) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    }

    /// The console stages report to in the current task (or thread); nil: stages are silent.
    @TaskLocal public static var console: Console?

    /// A stage of `total` units, or nil when no console is bound.
    public static func begin(_ stage: String, total: Int, unit: String) -> StageProgress? {
        console.map { StageProgress(stage: stage, total: total, unit: unit, console: $0) }
    }

    let stage, unit: String
    let total: Int
    let console: Console
    let began = DispatchTime.now().uptimeNanoseconds
    var done = 0
    var lastReport: UInt64

    init(stage: String, total: Int, unit: String, console: Console) {
        (self.stage, self.total, self.unit, self.console) = (stage, max(total, 0), unit, console)
        lastReport = began
    }

    var seconds: Double { Double(DispatchTime.now().uptimeNanoseconds - began) * 1e-9 }

    /// `count` more units done.
    public func advance(by count: Int = 1) {
        done += count
        let now = DispatchTime.now().uptimeNanoseconds
        let interval: UInt64 = console.isTerminal ? 100_000_000 : 60_000_000_000
        guard now - lastReport >= interval else { return }
        lastReport = now
        let rate = Double(done) / max(seconds, 1e-9)
        let eta = rate > 0 ? Double(max(total - done, 0)) / rate : 0
        let status = "\(stage): \(done)/\(total) \(unit)  ETA \(Progress.clock(eta))"
        if console.isTerminal {
            Progress.redraw(fraction: Double(done) / Double(max(total, 1)), status: status)
        } else {
            console.write(status)
        }
    }

    /// Ends the stage: its line with the count and the time it took.
    public func finish() {
        let line = String(format: "%@: %d %@ in %.1f s", stage, done, unit, seconds)
        if console.isTerminal { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
        console.write(line)
    }
}
