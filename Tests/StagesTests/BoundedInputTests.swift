import Foundation
import Formats
import Pipeline
import Testing
@testable import Stages

/// Issue 10, point 5: ingest and balance stay within a memory budget whatever the input.
@Suite("bounded input: ingest and balance")
struct BoundedInputTests {
    /// `<folder>/Training/happy/<name>` holding a gray PNG of `width` x `height`.
    func writePNG(_ folder: String, _ name: String, width: Int, height: Int) throws {
        let dir = folder + "/Training/happy"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let pixels = (0..<(width * height)).map { UInt8(truncatingIfNeeded: $0 % width) }
        let png = try PNGCodec.encode(PixelImage(width: width, height: height, channels: 1, pixels: pixels))
        try Data(png).write(to: URL(fileURLWithPath: dir + "/" + name))
    }

    @Test("folder images larger than maxImageSide are reduced as they are read; small ones are kept")
    func largeImagesReduced() throws {
        let folder = temporaryFolder()
        try writePNG(folder, "big.png", width: 3000, height: 1500)
        try writePNG(folder, "small.png", width: 48, height: 48)
        let run = try StageHarness().run(IngestStage.self, parameters: ["source": .string(folder)])
        let table = try run.table()
        #expect(try table.strings(ColumnName.itemID) == ["Training/happy/big.png", "Training/happy/small.png"])
        #expect(try table.int32(ColumnName.imageWidth) == [Int32(IngestStage.maxImageSide), 48])
        #expect(try table.int32(ColumnName.imageHeight) == [Int32(IngestStage.maxImageSide / 2), 48])
        let images = try ImageSet(run.output)
        #expect(images.pixels(0).count == IngestStage.maxImageSide * IngestStage.maxImageSide / 2)
    }

    @Test("a FIFO named *.png in the image folder is refused instead of blocking the build")
    func fifoInFolder() throws {
        let folder = temporaryFolder()
        try writePNG(folder, "a.png", width: 48, height: 48)
        #expect(mkfifo(folder + "/Training/happy/b.png", 0o600) == 0)
        let error = try #require(throws: (any Error).self) {
            try StageHarness().run(IngestStage.self, parameters: ["source": .string(folder), "on_bad_row": .string("skip")])
        }
        #expect("\(error)".contains("FIFO"))
        #expect("\(error)".contains("b.png"))
    }

    @Test("a symlink to /dev/zero as ingest.source is refused instead of spinning")
    func deviceAsSource() throws {
        let folder = temporaryFolder()
        let link = folder + "/fer2013.csv"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/zero")
        let error = try #require(throws: (any Error).self) {
            try StageHarness().run(IngestStage.self, parameters: ["source": .string(link)])
        }
        #expect("\(error)".contains("character device"))
    }

    @Test("balance.per_class = 10^8 with oversample is refused before allocating, naming the budget")
    func oversampleBudget() throws {
        let h = StageHarness()
        let split = try h.run(SplitStage.self, inputs: [try h.run(SelectStage.self, inputs: [try ingestedFixture(h).output]).output])
        let error = try #require(throws: (any Error).self) {
            try h.run(BalanceStage.self, parameters: ["per_class": .int(100_000_000), "when_short": .string("oversample")],
                      inputs: [split.output])
        }
        #expect("\(error)".contains("memory budget"))
        #expect("\(error)".contains("per_class = 100000000"))
        // The same target under "keep" needs no more rows than the input: it still runs.
        let kept = try h.run(BalanceStage.self, parameters: ["per_class": .int(100_000_000)], inputs: [split.output])
        #expect(try kept.table().rowCount == split.result.rowsOut)
    }

    @Test("the budget counts rows x estimated row bytes")
    func budgetArithmetic() throws {
        let table = try Table(rowCount: 2, columns: [
            Column(name: "f", data: .float32(values: [1, 2, 3, 4], width: 2)),
            Column(name: "s", data: .strings(["abcd", "ef"])),
        ])
        // 20 (index arrays) + 8 (two floats) + 16 + 3 (average string bytes)
        #expect(BalanceStage.estimatedRowBytes(table) == 47)
    }
}
