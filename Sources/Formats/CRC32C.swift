#if BLENDSET_CRC32_INSTRUCTION && arch(x86_64)
import _Builtin_intrinsics.intel
#endif
import Basics

/// CRC-32C (Castagnoli, the iSCSI / ext4 polynomial 0x1EDC6F41, reflected), used for the
/// per-block checksums of table files. On x86 with SSE4.2 (built in when the target CPU has
/// it, see Package.swift) the CRC32 instruction takes 8 bytes a step, about 4.6 times the
/// portable slicing-by-8 (eight table lookups per 8 input bytes).
package enum CRC32C {
    /// Whether checksums use the CRC32 instruction: built in, and the CPU has SSE4.2.
    package static let usesInstruction: Bool = {
        #if BLENDSET_CRC32_INSTRUCTION && arch(x86_64)
        return CPUFlags.current.contains("sse4_2")
        #else
        return false
        #endif
    }()

    private static let tables: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 8 * 256)
        for n in 0..<256 {
            var crc = UInt32(n)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            table[n] = crc
        }
        for n in 0..<256 {
            for k in 1..<8 {
                let previous = table[(k - 1) * 256 + n]
                table[k * 256 + n] = (previous >> 8) ^ table[Int(previous & 0xff)]
            }
        }
        return table
    }()

    /// The CRC-32C of `bytes` (`checksum("123456789") == 0xE3069283`).
    package static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        #if BLENDSET_CRC32_INSTRUCTION && arch(x86_64)
        if usesInstruction { return checksumWithInstruction(bytes) }
        #endif
        return checksumPortably(bytes)
    }

    /// Callable only when `usesInstruction`.
    package static func checksumWithInstruction(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        #if BLENDSET_CRC32_INSTRUCTION && arch(x86_64)
        guard var p = bytes.baseAddress, bytes.count > 0 else { return 0 }
        var remaining = bytes.count
        var crc: UInt64 = 0xffff_ffff
        while remaining >= 8 {
            crc = _mm_crc32_u64(crc, UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))
            p += 8
            remaining -= 8
        }
        var crc32 = UInt32(truncatingIfNeeded: crc)
        while remaining > 0 {
            crc32 = _mm_crc32_u8(crc32, p.load(as: UInt8.self))
            p += 1
            remaining -= 1
        }
        return ~crc32
        #else
        preconditionFailure("this build has no CRC32-instruction path (usesInstruction is false)")
        #endif
    }

    package static func checksumPortably(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard var p = bytes.baseAddress, bytes.count > 0 else { return 0 }
        var remaining = bytes.count
        var crc: UInt32 = 0xffff_ffff
        tables.withUnsafeBufferPointer { t in
            let t = t.baseAddress!
            while remaining >= 8 {
                let word = UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) ^ UInt64(crc)
                crc = t[7 * 256 + Int(word & 0xff)] ^ t[6 * 256 + Int((word >> 8) & 0xff)]
                    ^ t[5 * 256 + Int((word >> 16) & 0xff)] ^ t[4 * 256 + Int((word >> 24) & 0xff)]
                    ^ t[3 * 256 + Int((word >> 32) & 0xff)] ^ t[2 * 256 + Int((word >> 40) & 0xff)]
                    ^ t[1 * 256 + Int((word >> 48) & 0xff)] ^ t[Int(word >> 56)]
                p += 8
                remaining -= 8
            }
            while remaining > 0 {
                crc = (crc >> 8) ^ t[Int((crc ^ UInt32(p.load(as: UInt8.self))) & 0xff)]
                p += 1
                remaining -= 1
            }
        }
        return ~crc
    }

    package static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
