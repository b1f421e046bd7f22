@testable import Inference

/// A front-to-back FlatBuffers writer, just enough to build small TFLite models in tests.
/// Children are written after their parents, so every uoffset points forward.
indirect enum TFLiteFlatValue {
    case table([TFLiteFlatField?])
    case tables([TFLiteFlatValue])
    case int32s([Int32])
    case bytes([UInt8])
    case string(String)
}

enum TFLiteFlatField {
    case int8(Int8)
    case int32(Int32)
    case uint32(UInt32)
    case offset(TFLiteFlatValue)
}

struct TFLiteFlatWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func align(_ n: Int) { while bytes.count % n != 0 { bytes.append(0) } }
    private mutating func put32(_ v: UInt32) { for i in 0 ..< 4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
    private mutating func patch32(_ at: Int, _ v: UInt32) { for i in 0 ..< 4 { bytes[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
    private mutating func patch16(_ at: Int, _ v: Int) { bytes[at] = UInt8(v & 0xFF); bytes[at + 1] = UInt8(v >> 8) }

    static func file(root: TFLiteFlatValue, identifier: String) -> [UInt8] {
        var w = TFLiteFlatWriter()
        w.put32(0)
        w.bytes += Array(identifier.utf8)
        let r = w.write(root)
        w.patch32(0, UInt32(r))
        return w.bytes
    }

    /// Writes a value and returns its position (what a uoffset must point at).
    mutating func write(_ value: TFLiteFlatValue) -> Int {
        switch value {
        case let .table(fields):
            align(2)
            let vtable = bytes.count
            bytes += [UInt8](repeating: 0, count: 4 + 2 * fields.count)
            align(4)
            let table = bytes.count
            put32(UInt32(table - vtable))
            var pending: [(Int, TFLiteFlatValue)] = []
            for (i, field) in fields.enumerated() {
                guard let field else { continue }
                let at: Int
                switch field {
                case let .int8(v): at = bytes.count; bytes.append(UInt8(bitPattern: v))
                case let .int32(v): align(4); at = bytes.count; put32(UInt32(bitPattern: v))
                case let .uint32(v): align(4); at = bytes.count; put32(v)
                case let .offset(child): align(4); at = bytes.count; put32(0); pending.append((at, child))
                }
                patch16(vtable + 4 + 2 * i, at - table)
            }
            patch16(vtable, 4 + 2 * fields.count)
            patch16(vtable + 2, bytes.count - table)
            for (at, child) in pending {
                let p = write(child)
                patch32(at, UInt32(p - at))
            }
            return table
        case let .tables(items):
            align(4)
            let start = bytes.count
            put32(UInt32(items.count))
            for _ in items { put32(0) }
            for (i, item) in items.enumerated() {
                let p = write(item)
                patch32(start + 4 + 4 * i, UInt32(p - (start + 4 + 4 * i)))
            }
            return start
        case let .int32s(values):
            align(4)
            let start = bytes.count
            put32(UInt32(values.count))
            for v in values { put32(UInt32(bitPattern: v)) }
            return start
        case let .bytes(values):
            align(4)
            let start = bytes.count
            put32(UInt32(values.count))
            bytes += values
            return start
        case let .string(s):
            align(4)
            let start = bytes.count
            put32(UInt32(s.utf8.count))
            bytes += Array(s.utf8) + [0]
            return start
        }
    }
}

/// A small single-subgraph TFLite model described in test terms.
struct TFLiteTinyModel {
    struct Tensor {
        var shape: [Int]
        var type: Int8 = 0          // FLOAT32
        var data: [UInt8]? = nil
    }
    struct Op {
        var code: Int
        var inputs: [Int]
        var outputs: [Int]
        var optionsType: UInt8 = 0
        var options: [TFLiteFlatField?]? = nil
    }

    var tensors: [Tensor] = []
    var ops: [Op] = []
    var inputs: [Int] = []
    var outputs: [Int] = []
    /// Write codes only into the old byte field (pre-2.4 files), or only into the int field.
    var deprecatedCodes = false

    @discardableResult
    mutating func tensor(_ shape: [Int]) -> Int {
        tensors.append(Tensor(shape: shape))
        return tensors.count - 1
    }

    mutating func constant(_ shape: [Int], _ values: [Float]) -> Int {
        var data: [UInt8] = []
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 } }
        tensors.append(Tensor(shape: shape, data: data))
        return tensors.count - 1
    }

    mutating func float16Constant(_ shape: [Int], _ bits: [UInt16]) -> Int {
        var data: [UInt8] = []
        for v in bits { data += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        tensors.append(Tensor(shape: shape, type: 1, data: data))
        return tensors.count - 1
    }

    mutating func ints(_ shape: [Int], _ values: [Int32]) -> Int {
        var data: [UInt8] = []
        for v in values { withUnsafeBytes(of: v.littleEndian) { data += $0 } }
        tensors.append(Tensor(shape: shape, type: 2, data: data))
        return tensors.count - 1
    }

    mutating func op(_ code: Int, _ inputs: [Int], _ outputs: [Int], optionsType: UInt8 = 0, _ options: [TFLiteFlatField?]? = nil) {
        ops.append(Op(code: code, inputs: inputs, outputs: outputs, optionsType: optionsType, options: options))
    }

    func bytes() -> [UInt8] {
        let codes = Array(Set(ops.map(\.code))).sorted()
        var buffers: [TFLiteFlatValue] = [.table([])]
        var tensorTables: [TFLiteFlatValue] = []
        for (i, t) in tensors.enumerated() {
            var bufferIndex: UInt32 = 0
            if let data = t.data {
                buffers.append(.table([.offset(.bytes(data))]))
                bufferIndex = UInt32(buffers.count - 1)
            }
            tensorTables.append(.table([.offset(.int32s(t.shape.map { Int32($0) })), .int8(t.type), .uint32(bufferIndex),
                                        .offset(.string("t\(i)"))]))
        }
        let opTables: [TFLiteFlatValue] = ops.map { op in
            var fields: [TFLiteFlatField?] = [.uint32(UInt32(codes.firstIndex(of: op.code)!)),
                                        .offset(.int32s(op.inputs.map { Int32($0) })),
                                        .offset(.int32s(op.outputs.map { Int32($0) }))]
            if let options = op.options {
                fields += [.int8(Int8(op.optionsType)), .offset(.table(options))]
            }
            return .table(fields)
        }
        let codeTables: [TFLiteFlatValue] = codes.map { code in
            deprecatedCodes ? .table([.int8(Int8(code))]) : .table([.int8(Int8(min(code, 127))), nil, .int32(1), .int32(Int32(code))])
        }
        let subgraph = TFLiteFlatValue.table([.offset(.tables(tensorTables)), .offset(.int32s(inputs.map { Int32($0) })),
                                        .offset(.int32s(outputs.map { Int32($0) })), .offset(.tables(opTables)),
                                        .offset(.string("main"))])
        let model = TFLiteFlatValue.table([.uint32(3), .offset(.tables(codeTables)), .offset(.tables([subgraph])),
                                     .offset(.string("tiny")), .offset(.tables(buffers))])
        return TFLiteFlatWriter.file(root: model, identifier: "TFL3")
    }

    func interpreter() throws -> Interpreter {
        try Interpreter(model: try TFLiteModel(bytes: bytes(), name: "tiny.tflite"))
    }
}

/// Deterministic test values (no global random state).
struct TFLiteTestRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state >> 11
    }
    mutating func float(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(next() % 1_000_000) / 1_000_000
    }
    mutating func floats(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] { (0 ..< n).map { _ in float(lo, hi) } }
}
