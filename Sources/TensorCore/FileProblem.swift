// The error for a file a user supplied: which file, and what is wrong with it.

/// "path: problem". One generic type serves every reader; `Kind` (an empty enum per reader) keeps their errors
/// apart, so a caller can still catch one kind: `catch let error as AudioError`.
public struct FileProblem<Kind>: Error, CustomStringConvertible, Equatable {
    /// The file (or folder) the problem is in.
    public let path: String
    /// What is wrong, with what was expected and what was found.
    public let problem: String
    /// A problem with the file at `path`.
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
    public var description: String { "\(path): \(problem)" }
}

/// The kind of ``SafeTensorsError``.
public enum SafeTensorsFile {}
/// A safetensors file that cannot be read or written.
public typealias SafeTensorsError = FileProblem<SafeTensorsFile>
