extension SHA256 {
    /// The SHA-256 of each of `messages.count / length` messages of `length` bytes that lie
    /// back to back in `messages`, 32 bytes each into `digests`: the same digests as
    /// `SHA256.digest` of each message.
    ///
    /// Eight messages are hashed at once, one per SIMD lane, so one instruction stream does
    /// the work of eight: an image table's per-image hashes cost about a fifth of hashing the
    /// images one by one with the portable rounds (with the SHA extensions, one by one runs at
    /// about the lanes' speed: `blendset-bench hash`). A last group of fewer than eight is
    /// hashed one by one.
    public static func digests(ofMessages messages: UnsafeRawBufferPointer, length: Int,
                               into digests: UnsafeMutableRawBufferPointer) {
        precondition(length > 0 && messages.count % length == 0, "messages must be whole \(length)-byte messages")
        let count = messages.count / length
        precondition(digests.count == count * 32, "room for \(count) digests expected")
        guard count > 0, let base = messages.baseAddress, let out = digests.baseAddress else { return }
        let lanes = Lanes.scalarCount
        let whole = length / 64, tail = length % 64
        let tailBlocks = tail < 56 ? 1 : 2
        // Each lane's last block(s): the message's tail, the 0x80 byte, zeros and the bit length.
        let padded = UnsafeMutableRawPointer.allocate(byteCount: lanes * 128, alignment: 64)
        defer { padded.deallocate() }
        let schedule = UnsafeMutablePointer<Lanes>.allocate(capacity: 64)
        defer { schedule.deallocate() }
        var group = 0
        while group + lanes <= count {
            let first = base + group * length
            var state = LaneState()
            for block in 0..<whole {
                loadSchedule(schedule, first + block * 64, laneStride: length)
                compress(&state, schedule)
            }
            padded.initializeMemory(as: UInt8.self, repeating: 0, count: lanes * 128)
            for lane in 0..<lanes {
                let p = padded + lane * 128
                p.copyMemory(from: first + lane * length + whole * 64, byteCount: tail)
                p.storeBytes(of: 0x80, toByteOffset: tail, as: UInt8.self)
                p.storeBytes(of: (UInt64(length) &* 8).bigEndian, toByteOffset: tailBlocks * 64 - 8, as: UInt64.self)
            }
            for block in 0..<tailBlocks {
                loadSchedule(schedule, UnsafeRawPointer(padded) + block * 64, laneStride: 128)
                compress(&state, schedule)
            }
            state.store(out + group * 32)
            group += lanes
        }
        for i in group..<count {
            let digest = SHA256.digest(UnsafeRawBufferPointer(start: base + i * length, count: length))
            digest.bytes.withUnsafeBytes { (out + i * 32).copyMemory(from: $0.baseAddress!, byteCount: 32) }
        }
    }

    typealias Lanes = SIMD8<UInt32>

    struct LaneState {
        var a = Lanes(repeating: 0x6a09_e667), b = Lanes(repeating: 0xbb67_ae85)
        var c = Lanes(repeating: 0x3c6e_f372), d = Lanes(repeating: 0xa54f_f53a)
        var e = Lanes(repeating: 0x510e_527f), f = Lanes(repeating: 0x9b05_688c)
        var g = Lanes(repeating: 0x1f83_d9ab), h = Lanes(repeating: 0x5be0_cd19)

        /// Lane i's digest at `out + 32 * i`, big-endian words as SHA-256 writes them.
        func store(_ out: UnsafeMutableRawPointer) {
            let words = [a, b, c, d, e, f, g, h]
            for lane in 0..<Lanes.scalarCount {
                for (j, word) in words.enumerated() {
                    out.storeBytes(of: word[lane].bigEndian, toByteOffset: lane * 32 + j * 4, as: UInt32.self)
                }
            }
        }
    }

    /// The 64-word message schedule of one block per lane; lane i's block starts at
    /// `first + i * laneStride`.
    @inline(__always)
    private static func loadSchedule(_ w: UnsafeMutablePointer<Lanes>, _ first: UnsafeRawPointer, laneStride: Int) {
        for j in 0..<16 {
            var word = Lanes()
            for lane in 0..<Lanes.scalarCount {
                word[lane] = UInt32(bigEndian: first.loadUnaligned(fromByteOffset: lane &* laneStride &+ j &* 4, as: UInt32.self))
            }
            w[j] = word
        }
        for t in 16..<64 {
            let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] &>> 3)
            let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] &>> 10)
            w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
        }
    }

    @inline(__always)
    private static func compress(_ state: inout LaneState, _ w: UnsafeMutablePointer<Lanes>) {
        var a = state.a, b = state.b, c = state.c, d = state.d
        var e = state.e, f = state.f, g = state.g, h = state.h
        roundConstants.withUnsafeBufferPointer { k in
            for t in 0..<64 {
                let t1 = h &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ (g ^ (e & (f ^ g)))
                    &+ Lanes(repeating: k[t]) &+ w[t]
                let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) | (c & (a | b)))
                h = g; g = f; f = e; e = d &+ t1
                d = c; c = b; b = a; a = t1 &+ t2
            }
        }
        state.a &+= a; state.b &+= b; state.c &+= c; state.d &+= d
        state.e &+= e; state.f &+= f; state.g &+= g; state.h &+= h
    }

    @inline(__always)
    private static func rotr(_ x: Lanes, _ n: UInt32) -> Lanes {
        (x &>> n) | (x &<< (32 &- n))
    }

    /// FIPS 180-4 §4.2.2: the 64 round constants (the portable rounds write them inline).
    static let roundConstants: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]
}
