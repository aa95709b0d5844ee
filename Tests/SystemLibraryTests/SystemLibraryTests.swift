// The FFTW and libsndfile system-library targets link and work (the audio front end builds on them).

import CFFTW
import CSndFile
import Foundation
import Testing

@Suite struct SystemLibraryTests {
    @Test func fftwFindsTheFrequencyOfASine() {
        let n = 64
        let input = fftwf_alloc_real(n)!, output = fftwf_alloc_complex(n / 2 + 1)!
        defer { fftwf_free(input); fftwf_free(output) }
        for i in 0..<n { input[i] = Float(sin(2 * Double.pi * 5 * Double(i) / Double(n))) }
        let plan = fftwf_plan_dft_r2c_1d(Int32(n), input, output, UInt32(FFTW_ESTIMATE))
        defer { fftwf_destroy_plan(plan) }
        fftwf_execute(plan)
        let magnitudes = (0...(n / 2)).map { k in hypot(Double(output[k].0), Double(output[k].1)) }
        #expect(magnitudes.firstIndex(of: magnitudes.max()!) == 5)
    }

    @Test func sndfileWritesAndReadsAWav() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-\(UUID().uuidString).wav").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var info = SF_INFO()
        info.samplerate = 16000
        info.channels = 1
        info.format = Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
        let samples: [Float] = (0..<1600).map { Float(sin(Double($0) * 0.1)) * 0.5 }
        let writer = try #require(sf_open(path, Int32(SFM_WRITE), &info))
        #expect(sf_writef_float(writer, samples, sf_count_t(samples.count)) == samples.count)
        sf_close(writer)
        var readInfo = SF_INFO()
        let reader = try #require(sf_open(path, Int32(SFM_READ), &readInfo))
        defer { sf_close(reader) }
        #expect(readInfo.samplerate == 16000 && readInfo.frames == 1600)
        var decoded = [Float](repeating: 0, count: 1600)
        #expect(sf_readf_float(reader, &decoded, 1600) == 1600)
        #expect(zip(decoded, samples).allSatisfy { Swift.abs($0 - $1) < 1e-3 })
    }
}
