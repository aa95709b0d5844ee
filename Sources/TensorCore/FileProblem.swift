// The error for a file a user supplied: which file, and what is wrong with it; and reading such a file whole with
// one error per way it can fail (absent, a folder, unreadable, too large), each naming the file.

import Foundation

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

    /// The bytes of the user's file at `path`, or this error naming it: no such file, a folder, unreadable (with the
    /// system's reason), or larger than `limit` bytes.
    public static func contents(of path: String, limit: Int = 1 << 34, mapped: Bool = false) throws -> Data {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw FileProblem(path: path, problem: errno == ENOENT ? "no such file" : "cannot read: \(String(cString: strerror(errno)))")
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw FileProblem(path: path, problem: "is a folder, not a file")
        default: throw FileProblem(path: path, problem: "is not a regular file (a device, pipe or socket)")
        }
        guard Int(status.st_size) <= limit else {
            throw FileProblem(path: path, problem: "is \(status.st_size) bytes; at most \(limit) are read")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FileProblem(path: path, problem: "cannot read: \(String(cString: strerror(errno)))")
        }
        defer { try? handle.close() }
        if mapped, let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe) { return data }
        do { return try handle.readToEnd() ?? Data() } catch {
            throw FileProblem(path: path, problem: "cannot read: \((error as NSError).localizedDescription)")
        }
    }

    /// The user's text file at `path` as UTF-8 (`contents(of:limit:)`'s errors, and one for text that is not UTF-8).
    public static func text(of path: String, limit: Int = 1 << 30) throws -> String {
        let data = try contents(of: path, limit: limit)
        guard let text = String(data: data, encoding: .utf8) else {
            throw FileProblem(path: path, problem: "is not UTF-8 text")
        }
        return text
    }
}

/// The kind of ``SafeTensorsError``.
public enum SafeTensorsFile {}
/// A safetensors file that cannot be read or written.
public typealias SafeTensorsError = FileProblem<SafeTensorsFile>

extension StringProtocol {
    /// The lines of a user's text file, empty ones kept (line i is line i + 1 of the file), whether it ends its lines
    /// with LF or with CRLF (a file saved on Windows): Swift's `split(separator: "\n")` sees "\r\n" as one character
    /// and would not split there.
    public var textLines: [SubSequence] {
        split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
    }
}
