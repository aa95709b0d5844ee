// `cpc-libfuzz`: the coverage-guided twin of `cpc-fuzz`. libFuzzer (from the Swift toolchain) drives one reader of
// `UserFileReader.all` at a time, chosen by CPC_FUZZ_READER; each input is written to a scratch file and read, as a
// user's file would be. A crash, a trap or an allocation over libFuzzer's -rss_limit_mb is a finding (libFuzzer writes
// the input to crash-…); so is an error that does not name the file or is not one short line (this harness traps).
//
//     scripts/libfuzzer.sh wav 60          # build with -sanitize=fuzzer, then fuzz the WAV reader for 60 s
//
// Built normally (without LIBFUZZER) it is a stub that says how to build it, so that `swift build` stays plain.

import Evaluation
import Foundation

#if LIBFUZZER
/// The reader under test and its scratch file, set once by LLVMFuzzerInitialize.
nonisolated(unsafe) private var reader: UserFileReader?
nonisolated(unsafe) private var scratch = ""

/// libFuzzer's entry point (in the runtime that -sanitize=fuzzer links), run from our own `main`: SwiftPM names an
/// executable's entry `<module>_main` and points `main` at it, so libFuzzer's own `main` is never linked.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@_cdecl("cpc_libfuzz_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    let name = ProcessInfo.processInfo.environment["CPC_FUZZ_READER"] ?? ""
    guard let chosen = UserFileReader.all.first(where: { $0.name == name }) else {
        FileHandle.standardError.write(Data("CPC_FUZZ_READER must name one of: \(UserFileReader.all.map(\.name).joined(separator: ", "))\n".utf8))
        return 2
    }
    let folder = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()) + "/cpc-libfuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    (reader, scratch) = (chosen, folder + "/" + chosen.fileName)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzerTestOneInput)
}

/// One input: written to the scratch file and read.
func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let reader else { return 0 }
    FileManager.default.createFile(atPath: scratch, contents: data.map { Data(bytes: $0, count: size) } ?? Data())
    do {
        try reader.read(scratch)
    } catch {
        let text = "\(error)"
        // The same rule as cpc-fuzz: an error names the file and stays one short line.
        if !text.contains(scratch) || text.count > 2000 || text.contains("NSCocoaErrorDomain") {
            FileHandle.standardError.write(Data("error that does not name the file: \(text.prefix(300))\n".utf8))
            abort()
        }
    }
    return 0
}
#else
@main
struct LibFuzzStub {
    static func main() {
        FileHandle.standardError.write(Data("cpc-libfuzz is built for libFuzzer by scripts/libfuzzer.sh (swift build -Xswiftc -sanitize=fuzzer -Xswiftc -DLIBFUZZER)\n".utf8))
        exit(2)
    }
}
#endif
