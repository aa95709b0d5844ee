// swift-tools-version: 6.0
// SwiftCPC: self-supervised representation learning (CPC and friends) on a CPU-first compute core.

import PackageDescription

let package = Package(
    name: "SwiftCPC",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "TensorCore", targets: ["TensorCore"]),
        .library(name: "Layers", targets: ["Layers"]),
        .library(name: "AudioFrontEnd", targets: ["AudioFrontEnd"]),
        .library(name: "ImageFrontEnd", targets: ["ImageFrontEnd"]),
        .library(name: "Objectives", targets: ["Objectives"]),
        .library(name: "Methods", targets: ["Methods"]),
        .executable(name: "cpc", targets: ["cpc"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // `swift package generate-documentation` (DocC) for the API targets; a plugin, not linked into anything.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // C libraries, each a module map + shim header, found through pkg-config.
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CFFTW", path: "Sources/CFFTW", pkgConfig: "fftw3f",
            providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(
            name: "CSampleRate", path: "Sources/CSampleRate", pkgConfig: "samplerate",
            providers: [.apt(["libsamplerate0-dev"])]),
        .systemLibrary(
            name: "CSndFile", path: "Sources/CSndFile", pkgConfig: "sndfile",
            providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(
            name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng16",
            providers: [.apt(["libpng-dev"])]),
        .systemLibrary(
            name: "CTurboJPEG", path: "Sources/CTurboJPEG", pkgConfig: "libturbojpeg",
            providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(
            name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        // Hand-vectorised kernels (direct convolution), compiled per instruction set and picked at run time.
        .target(name: "CKernels"),
        .target(name: "TensorCore", dependencies: ["CBLAS", "CKernels"]),
        .target(name: "Layers", dependencies: ["TensorCore"]),
        .target(name: "Objectives", dependencies: ["TensorCore", "CBLAS"]),
        .target(name: "Methods", dependencies: ["TensorCore", "Layers", "Objectives"]),
        // The MPI world as a Collective (data-parallel training under mpirun).
        .target(name: "Distributed", dependencies: ["TensorCore", "CMPI"]),
        .target(name: "Training", dependencies: ["TensorCore", "Layers", "Objectives", "Methods", "AudioFrontEnd",
                                                 "ImageFrontEnd", .product(name: "Yams", package: "Yams")]),
        .target(name: "Evaluation", dependencies: ["TensorCore", "Layers", "Methods", "AudioFrontEnd", "ImageFrontEnd",
                                                   "Training"]),
        .target(name: "AudioFrontEnd", dependencies: ["TensorCore", "CSndFile", "CFFTW", "CSampleRate", "CBLAS"]),
        .target(name: "ImageFrontEnd", dependencies: ["TensorCore", "CPNG", "CTurboJPEG", "CZlib"]),
        .target(name: "TestSupport", dependencies: ["TensorCore"]),
        .executableTarget(
            name: "cpc",
            dependencies: [
                "TensorCore", "Layers", "AudioFrontEnd", "ImageFrontEnd", "Methods", "Training", "Evaluation", "Distributed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // The mutation fuzzer over every reader of a user's file (Tests/Fuzz/seeds).
        .executableTarget(
            name: "cpc-fuzz",
            dependencies: ["TensorCore", "Evaluation"]),

        // The coverage-guided twin of cpc-fuzz (libFuzzer): scripts/libfuzzer.sh builds it with -sanitize=fuzzer.
        .executableTarget(
            name: "cpc-libfuzz",
            dependencies: ["Evaluation"]),

        // The distributed checks, run under `mpirun -np 2` (Tests/EndToEnd/run.sh).
        .executableTarget(
            name: "cpc-mpi-check",
            dependencies: ["TensorCore", "Layers", "Methods", "Training", "ImageFrontEnd", "Distributed"]),

        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "TestSupport"]),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "TestSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Methods", "Objectives", "Layers", "AudioFrontEnd", "ImageFrontEnd",
                                                        "Training", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Methods", "Layers", "ImageFrontEnd", "TestSupport"]),
        .testTarget(name: "MethodsTests", dependencies: ["Methods", "Objectives", "Layers", "TestSupport"]),
        .testTarget(name: "AudioFrontEndTests", dependencies: ["AudioFrontEnd", "TestSupport"]),
        .testTarget(name: "ImageFrontEndTests", dependencies: ["ImageFrontEnd", "CZlib", "TestSupport"]),
        .testTarget(name: "CorpusTests", dependencies: ["CSndFile", "TestSupport"]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CFFTW", "CSndFile"]),
        .testTarget(name: "CLITests", dependencies: ["TensorCore", "TestSupport"]),
    ]
)
