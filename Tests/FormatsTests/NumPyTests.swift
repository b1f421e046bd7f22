import Basics
import Foundation
import Testing
@testable import Formats

@Suite("NumPy export")
struct NumPyTests {
    @Test func npyLayout() throws {
        let array = try NPYArray(float32: [1, 2, 3, 4, 5, 6], shape: [2, 3])
        let bytes = NumPyFile.npy(array)
        #expect(Array(bytes.prefix(8)) == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        let header = String(decoding: bytes[10 ..< 10 + headerLength], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"))
        #expect(header.hasSuffix("\n"))
        #expect(bytes.count == 10 + headerLength + 24)
        #expect(Array(bytes.suffix(4)) == [0, 0, 0xC0, 0x40])  // 6.0f little-endian
    }

    @Test func shapesAndErrors() throws {
        #expect(throws: FormatError.self) { try NPYArray(int32: [1, 2, 3], shape: [2]) }
        let strings = try NPYArray(strings: ["happy", "sad", ""])
        #expect(strings.dtype == .unicode(length: 5))
        #expect(strings.bytes.count == 3 * 5 * 4)
        #expect(throws: FormatError.self) {
            try NPYArray(column: Column(name: "b", data: .blobs(offsets: [0], bytes: [])), rowCount: 0)
        }
        #expect(throws: FormatError.self) {
            try NumPyFile.npz([("x", try NPYArray(uint8: [1], shape: [1])), ("x", try NPYArray(uint8: [1], shape: [1]))])
        }
    }

    @Test func crc32KnownAnswer() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test func npzIsDeterministicAndLoadsInNumPy() throws {
        let arrays: [(name: String, array: NPYArray)] = [
            ("X_train", try NPYArray(float32: [0.5, -1.25, 3, 4.0625], shape: [2, 2])),
            ("y_train", try NPYArray(uint8: [1, 0, 0, 1], shape: [2, 2])),
            ("row", try NPYArray(int64: [7, -9], shape: [2])),
            ("label_names", try NPYArray(strings: ["happy", "sad", "neutral"])),
        ]
        let npz = try NumPyFile.npz(arrays)
        #expect(try NumPyFile.npz(arrays) == npz)
        #expect(Array(npz.prefix(4)) == [0x50, 0x4B, 0x03, 0x04])

        let dir = try TemporaryDirectory()
        let path = dir.path + "/d.npz"
        try AtomicFile.write(npz, to: path)
        let script = """
        import sys
        try:
            import numpy as np
        except ImportError:
            print("SKIP"); sys.exit(0)
        d = np.load(sys.argv[1])
        print(d['X_train'].dtype, d['X_train'].shape, d['X_train'].tolist())
        print(d['y_train'].dtype, d['y_train'].tolist(), d['row'].tolist(), d['label_names'].tolist())
        """
        // Whichever python3 on this machine has NumPy; without one the check is skipped.
        var output = "SKIP"
        for python in [["/usr/bin/env", "python3"], ["/root/.pyenv/shims/python3"], ["/usr/bin/python3"]]
        where FileManager.default.isExecutableFile(atPath: python[0]) && output.hasPrefix("SKIP") {
            output = (try? runTool(python[0], Array(python.dropFirst()) + ["-c", script, path])) ?? "SKIP"
            if output.isEmpty { output = "SKIP" }
        }
        if output.hasPrefix("SKIP") { return }
        #expect(output == """
        float32 (2, 2) [[0.5, -1.25], [3.0, 4.0625]]
        uint8 [[1, 0], [0, 1]] [7, -9] ['happy', 'sad', 'neutral']

        """)
    }
}

@Suite("CSV export")
struct TableCSVTests {
    @Test func layout() throws {
        let digest = SHA256.digest("x")
        let table = try Table(rowCount: 2, columns: [
            Column(name: "f", data: .float32(values: [0.5, -1, .nan, 0.1234], width: 2)),
            Column(name: "label", data: .int32([3, 4])),
            Column(name: "hash", data: .uint8(values: digest.bytes + digest.bytes, width: 32)),
            Column(name: "px", data: .uint8(values: [1, 2, 3, 4], width: 2)),
            Column(name: "note", data: .strings(["plain", "a, \"quoted\" one"])),
        ])
        let text = String(decoding: try TableCSV.encode(table, expandedNames: ["f": ["browDown", "jawOpen"]]), as: UTF8.self)
        #expect(text == """
        browDown,jawOpen,label,hash,px,note
        0.5,-1.0,3,\(digest.hex),1 2,plain
        nan,0.1234,4,\(digest.hex),3 4,"a, ""quoted"" one"

        """)
        #expect(throws: FormatError.self) { try TableCSV.encode(table, expandedNames: ["f": ["one"]]) }
        #expect(String(decoding: try TableCSV.encode(table), as: UTF8.self).hasPrefix("f_0,f_1,label"))
    }
}
