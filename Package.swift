// swift-tools-version:6.0
// gaussian-ad: image anomaly detection with Gaussians over pretrained CNN features.
import PackageDescription

let package = Package(
    name: "gaussian-ad",
    products: [
        .library(name: "GaussianAD", targets: ["GaussianAD"]),
        .executable(name: "gaussian-ad", targets: ["gaussian-ad"]),
        .executable(name: "gaussian-ad-bench", targets: ["gaussian-ad-bench"]),
    ],
    targets: [
        // System libraries, found by pkg-config.
        .systemLibrary(
            name: "CSystemBLAS", path: "Sources/CSystemBLAS", pkgConfig: "openblas lapacke",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(
            name: "CSystemPNG", path: "Sources/CSystemPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]),
        .systemLibrary(
            name: "CSystemJPEG", path: "Sources/CSystemJPEG", pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(
            name: "CSystemCrypto", path: "Sources/CSystemCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),
        // glibc's mallopt, for the command-line tool's start (no library to link).
        .systemLibrary(name: "CSystemMalloc", path: "Sources/CSystemMalloc"),
        // Arithmetic on raw buffers: convolutions, GEMM calls, pooling, resize, Cholesky.
        .target(
            name: "CKernels", dependencies: ["CSystemBLAS"], path: "CKernels",
            publicHeadersPath: "include",
            linkerSettings: [.linkedLibrary("openblas"), .linkedLibrary("lapacke"), .linkedLibrary("m")]),
        // PNG and JPEG decoding from memory buffers (libpng, libjpeg-turbo).
        .target(
            name: "CImageCodecs", dependencies: ["CSystemPNG", "CSystemJPEG"],
            path: "Sources/CImageCodecs", publicHeadersPath: "include",
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]),
        .target(
            name: "GaussianAD", dependencies: ["CKernels", "CImageCodecs", "CSystemCrypto"],
            path: "Sources/GaussianAD",
            resources: [.copy("Resources/imagenet_classes.txt")],
            swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "gaussian-ad", dependencies: ["GaussianAD", "CSystemMalloc"], path: "Sources/gaussian-ad"),
        .executableTarget(name: "gaussian-ad-bench", dependencies: ["GaussianAD", "CKernels", "CSystemBLAS"], path: "Benchmarks"),
        // Fuzz targets over the file parsers: libFuzzer entry points when built by scripts/fuzz
        // (-DFUZZING), otherwise a replay tool the regression tests run over the corpus.
        .executableTarget(name: "gaussian-ad-fuzz", dependencies: ["GaussianAD"], path: "Tests/Fuzz",
                          exclude: ["C", "corpus", "hostile", "README.md"]),
        .testTarget(name: "CKernelsTests", dependencies: ["CKernels"], path: "Tests/CKernelsTests"),
        .testTarget(
            name: "GaussianADTests", dependencies: ["GaussianAD", "CKernels"], path: "Tests/GaussianADTests",
            exclude: ["Fixtures"]),
        .testTarget(name: "CLITests", dependencies: ["GaussianAD"], path: "Tests/CLITests"),
    ],
    swiftLanguageModes: [.v5]
)
