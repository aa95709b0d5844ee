// The error for a file a user supplied: which file, and what is wrong with it.

/// "path: problem". One generic type serves every reader; `Kind` (an empty enum per reader) keeps their errors
/// apart, so a caller can still catch one kind: `catch let error as AudioError`.
public struct FileProblem<Kind>: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
    public var description: String { "\(path): \(problem)" }
}

public enum SafeTensorsFile {}
/// A safetensors file that cannot be read or written.
public typealias SafeTensorsError = FileProblem<SafeTensorsFile>
