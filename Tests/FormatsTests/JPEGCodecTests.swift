import Foundation
import Testing
@testable import Formats

@Suite struct JPEGCodecTests {
    static let photo = sharedDirectory + "/photos/astronaut-640x480.jpg"

    /// Expected values from Pillow 12 (`Image.open(f).convert("RGB")`), which decodes with
    /// libjpeg-turbo's defaults too (accurate DCT, smooth upsampling).
    @Test func decodesThePhotoLikePillow() throws {
        let image = try ImageFile.decodeFile(atPath: Self.photo)
        #expect(image.width == 640 && image.height == 480 && image.channels == 3)
        #expect(image.pixels.count == 640 * 480 * 3)
        func rgb(_ x: Int, _ y: Int) -> [UInt8] { Array(image.pixels[((y * 640 + x) * 3)..<((y * 640 + x) * 3 + 3)]) }
        #expect(rgb(0, 0) == [40, 40, 40])
        #expect(rgb(320, 240) == [22, 19, 14])
        #expect(rgb(100, 50) == [8, 4, 21])
        #expect(rgb(400, 300) == [187, 70, 26])
        #expect(rgb(639, 479) == [40, 40, 40])
        #expect(SHA256.digest(image.pixels).hex == "a84d8d925ae9a0171600cfaccf2528f43b8ca89c98269e6c49b71b1a89157fd8")
    }

    @Test func imageFileTellsFormatsApartByContent() throws {
        let jpeg = try ImageFile.decodeFile(atPath: Self.photo)
        #expect(jpeg.channels == 3 && jpeg.width == 640)
        let gray = try ImageFile.decodeFile(atPath: sharedDirectory + "/photos/astronaut-gray.png")
        #expect(gray.channels == 1 && gray.width == 512 && gray.height == 512)
        let reduced = try ImageFile.decodeFile(atPath: Self.photo, maxSide: 320)
        #expect(reduced.width == 320 && reduced.height == 240 && reduced.channels == 3)
        #expect(ImageFile.hasImageExtension("a/b.JPG") && ImageFile.hasImageExtension("x.jpeg") && ImageFile.hasImageExtension("x.png"))
        #expect(!ImageFile.hasImageExtension("x.csv") && !ImageFile.hasImageExtension("dir.png/x"))
    }

    @Test func truncatedFileIsAnErrorNamingTheFile() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Self.photo)))
        for cut in [bytes.count / 2, 300, 3] {
            let error = #expect(throws: FormatError.self) { try JPEGCodec.decode(Array(bytes.prefix(cut)), source: "cut.jpg") }
            #expect(error?.file == "cut.jpg")
            #expect(error?.description.contains("JPEG") == true)
        }
    }

    @Test func randomBytesAreRefused() throws {
        var generator = SystemRandomNumberGenerator()
        let noise = [0xFF, 0xD8, 0xFF] + (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let error = #expect(throws: FormatError.self) { try JPEGCodec.decode(noise, source: "noise.jpg") }
        #expect(error?.file == "noise.jpg")
        let other = #expect(throws: FormatError.self) { try ImageFile.decode([1, 2, 3, 4, 5], source: "x.jpg") }
        #expect(other?.message.contains("not a PNG or JPEG") == true)
        #expect(throws: FormatError.self) { try JPEGCodec.decode([], source: "empty.jpg") }
    }

    /// A header that declares 65000 x 65000 pixels is refused before the pixels are allocated.
    @Test func hugeDeclaredSizeIsRefusedBeforeAllocating() throws {
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Self.photo)))
        // The SOF0/SOF2 marker holds height then width, big-endian, 3 and 5 bytes past its length.
        guard let sof = (0..<(bytes.count - 9)).first(where: { bytes[$0] == 0xFF && (bytes[$0 + 1] == 0xC0 || bytes[$0 + 1] == 0xC2) }) else {
            Issue.record("no SOF marker"); return
        }
        bytes[sof + 5] = 0xFD; bytes[sof + 6] = 0xE8  // height 65000
        bytes[sof + 7] = 0xFD; bytes[sof + 8] = 0xE8  // width 65000
        let error = #expect(throws: FormatError.self) { try JPEGCodec.decode(bytes, source: "huge.jpg") }
        #expect(error?.message.contains("too large") == true)
        #expect(error?.message.contains("65000x65000") == true)
    }
}
