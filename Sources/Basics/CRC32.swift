/// CRC-32 (IEEE 802.3 / zip / zlib polynomial 0xEDB88320, reflected), as zip archives
/// store it: written by the NPZ exporter, checked by the model-bundle reader.
///
/// CRC-32C, the table-file checksum, is a different polynomial and stays in Formats,
/// its only user.
public enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var crc = UInt32(n)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        return crc
    }

    /// The CRC-32 of `bytes` (`checksum("123456789") == 0xCBF43926`).
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        table.withUnsafeBufferPointer { t in
            var crc: UInt32 = 0xffff_ffff
            for byte in bytes { crc = (crc >> 8) ^ t[Int((crc ^ UInt32(byte)) & 0xff)] }
            return ~crc
        }
    }
}
