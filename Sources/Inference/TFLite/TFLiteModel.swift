/// Element types of TFLite tensors (schema `TensorType`).
public enum TensorType: Int8, Sendable, CustomStringConvertible {
    case float32 = 0, float16 = 1, int32 = 2, uint8 = 3, int64 = 4, string = 5, bool = 6,
         int16 = 7, complex64 = 8, int8 = 9, float64 = 10

    /// Bytes per element, or nil for variable-size types.
    var byteWidth: Int? {
        switch self {
        case .float32, .int32: 4
        case .float16, .int16: 2
        case .uint8, .int8, .bool: 1
        case .int64, .complex64, .float64: 8
        case .string: nil
        }
    }

    public var description: String {
        switch self {
        case .float32: "FLOAT32"
        case .float16: "FLOAT16"
        case .int32: "INT32"
        case .uint8: "UINT8"
        case .int64: "INT64"
        case .string: "STRING"
        case .bool: "BOOL"
        case .int16: "INT16"
        case .complex64: "COMPLEX64"
        case .int8: "INT8"
        case .float64: "FLOAT64"
        }
    }
}

/// One tensor of the main subgraph.
public struct TensorInfo: Sendable {
    public let name: String
    public let shape: [Int]
    public let type: TensorType
    /// Byte range of constant data in the model bytes, or nil for activations.
    let data: Range<Int>?

    public var elementCount: Int { shape.reduce(1, *) }
    public var isConstant: Bool { data != nil }
}

/// Fused activation of an operator (schema `ActivationFunctionType`).
enum Activation: Int8, Sendable {
    case none = 0, relu = 1, reluN1To1 = 2, relu6 = 3

    var bounds: (lower: Float, upper: Float) {
        switch self {
        case .none: (-.infinity, .infinity)
        case .relu: (0, .infinity)
        case .reluN1To1: (-1, 1)
        case .relu6: (0, 6)
        }
    }
}

enum Padding: Int8, Sendable { case same = 0, valid = 1 }

/// The builtin options this engine understands, decoded per operator.
enum OperatorOptions: Sendable {
    case none
    case conv(padding: Padding, strideW: Int, strideH: Int, dilationW: Int, dilationH: Int, activation: Activation)
    case depthwise(padding: Padding, strideW: Int, strideH: Int, multiplier: Int, dilationW: Int, dilationH: Int, activation: Activation)
    case pool(padding: Padding, strideW: Int, strideH: Int, filterW: Int, filterH: Int, activation: Activation)
    case activation(Activation)
    case concatenation(axis: Int, activation: Activation)
    case reducer(keepDims: Bool)
    case stridedSlice(beginMask: Int, endMask: Int, ellipsisMask: Int, newAxisMask: Int, shrinkAxisMask: Int, offset: Bool)
}

/// One operator of the main subgraph.
public struct OperatorInfo: Sendable {
    /// TFLite builtin operator code (schema `BuiltinOperator`); 32 is CUSTOM.
    public let builtinCode: Int
    public let customCode: String?
    /// Tensor indices; -1 marks an omitted optional input.
    public let inputs: [Int]
    public let outputs: [Int]
    let options: OperatorOptions

    public var opName: String { customCode.map { "CUSTOM(\($0))" } ?? BuiltinOperator.name(builtinCode) }
}

/// A parsed `.tflite` model: the tensors and operators of its main subgraph.
///
/// All parsing is done here, once; a `TFLiteModel` is immutable and can be shared by the
/// interpreters of several threads.
public struct TFLiteModel: Sendable {
    /// The model's name for messages (file or bundle entry).
    public let name: String
    public let tensors: [TensorInfo]
    public let operators: [OperatorInfo]
    public let inputIndices: [Int]
    public let outputIndices: [Int]
    /// The model file, which constant tensors point into.
    let bytes: [UInt8]

    public var inputNames: [String] { inputIndices.map { tensors[$0].name } }
    public var inputShapes: [[Int]] { inputIndices.map { tensors[$0].shape } }
    public var outputNames: [String] { outputIndices.map { tensors[$0].name } }
    public var outputShapes: [[Int]] { outputIndices.map { tensors[$0].shape } }

    public init(bytes: [UInt8], name: String) throws(ModelError) {
        let fb = FlatBuffer(bytes: bytes, source: name)
        let model = try fb.root(identifier: "TFL3")

        // OperatorCode: 0 deprecated_builtin_code (byte), 1 custom_code, 2 version, 3 builtin_code (int).
        // The real code is the larger of the two: old files only fill the byte, new files
        // put 127 (PLACEHOLDER_FOR_GREATER_OP_CODES) there for codes that do not fit.
        var codes: [(Int, String?)] = []
        for code in try fb.tables(model, 1) {
            let deprecated = Int(try fb.int8(code, 0))
            let builtin = Int(try fb.int32(code, 3))
            let custom = try fb.string(code, 1)
            codes.append((max(deprecated, builtin), custom))
        }

        // Buffer: 0 data, 1 offset, 2 size (offset/size are for files over 2 GB).
        var buffers: [Range<Int>] = []
        for buffer in try fb.tables(model, 4) {
            if let range = try fb.byteRange(buffer, 0) {
                buffers.append(range)
            } else {
                let offset = try fb.uint64(buffer, 1)
                let size = try fb.uint64(buffer, 2)
                if offset > 1 {
                    guard offset <= UInt64(bytes.count), size <= UInt64(bytes.count) - offset else {
                        throw fb.fail("buffer \(buffers.count) (offset \(offset), \(size) bytes) lies outside the file")
                    }
                    buffers.append(Int(offset) ..< Int(offset + size))
                } else {
                    buffers.append(0 ..< 0)
                }
            }
        }

        let subgraphs = try fb.tables(model, 2)
        guard let graph = subgraphs.first else { throw fb.fail("model has no subgraph") }

        // Tensor: 0 shape, 1 type, 2 buffer, 3 name.
        var tensors: [TensorInfo] = []
        for (index, t) in try fb.tables(graph, 0).enumerated() {
            let name = try fb.string(t, 3) ?? "tensor\(index)"
            let rawType = try fb.int8(t, 1)
            guard let type = TensorType(rawValue: rawType) else {
                throw ModelError(source: name, "tensor \(index) '\(name)' has unknown type code \(rawType)")
            }
            let shape = (try fb.int32s(t, 0) ?? []).map { Int($0) }
            guard shape.count <= 8, shape.allSatisfy({ $0 >= 0 && $0 <= 1 << 24 }) else {
                throw fb.fail("tensor \(index) '\(name)' has unsupported shape \(shape)")
            }
            var count = 1
            for d in shape {
                let (c, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, c <= 1 << 28 else { throw fb.fail("tensor \(index) '\(name)' shape \(shape) is too large") }
                count = c
            }
            let bufferIndex = Int(try fb.uint32(t, 2))
            guard bufferIndex < max(buffers.count, 1) else {
                throw fb.fail("tensor \(index) '\(name)' refers to buffer \(bufferIndex) of \(buffers.count)")
            }
            var data: Range<Int>? = nil
            if bufferIndex > 0, !buffers[bufferIndex].isEmpty {
                let range = buffers[bufferIndex]
                if let width = type.byteWidth {
                    guard range.count == count * width else {
                        throw fb.fail("constant tensor \(index) '\(name)' of shape \(shape) \(type) needs \(count * width) bytes, its buffer has \(range.count)")
                    }
                }
                data = range
            }
            tensors.append(TensorInfo(name: name, shape: shape, type: type, data: data))
        }

        func checkedIndices(_ list: [Int32]?, _ what: String, optional: Bool) throws(ModelError) -> [Int] {
            var result: [Int] = []
            for v in list ?? [] {
                let i = Int(v)
                guard (i >= 0 && i < tensors.count) || (optional && i == -1) else {
                    throw fb.fail("\(what) refers to tensor \(i) of \(tensors.count)")
                }
                result.append(i)
            }
            return result
        }

        let inputs = try checkedIndices(try fb.int32s(graph, 1), "subgraph inputs", optional: false)
        let outputs = try checkedIndices(try fb.int32s(graph, 2), "subgraph outputs", optional: false)

        // Operator: 0 opcode_index, 1 inputs, 2 outputs, 3 builtin_options_type, 4 builtin_options.
        var operators: [OperatorInfo] = []
        for (index, op) in try fb.tables(graph, 3).enumerated() {
            let opcode = Int(try fb.uint32(op, 0))
            guard opcode < codes.count else {
                throw fb.fail("operator \(index) uses opcode \(opcode) of \(codes.count)")
            }
            let (code, custom) = codes[opcode]
            let opInputs = try checkedIndices(try fb.int32s(op, 1), "operator \(index) inputs", optional: true)
            let opOutputs = try checkedIndices(try fb.int32s(op, 2), "operator \(index) outputs", optional: false)
            let optionsTable = try fb.table(op, 4)
            let options = try Self.decodeOptions(fb, code: code, table: optionsTable, index: index)
            operators.append(OperatorInfo(builtinCode: code,
                                          customCode: code == BuiltinOperator.custom ? (custom ?? "") : nil,
                                          inputs: opInputs, outputs: opOutputs, options: options))
        }

        self.name = name
        self.tensors = tensors
        self.operators = operators
        self.inputIndices = inputs
        self.outputIndices = outputs
        self.bytes = bytes
    }

    private static func decodeOptions(_ fb: FlatBuffer, code: Int, table: FlatBuffer.Table?, index: Int) throws(ModelError) -> OperatorOptions {
        func activation(_ field: Int) throws(ModelError) -> Activation {
            guard let t = table else { return .none }
            let raw = try fb.int8(t, field)
            guard let a = Activation(rawValue: raw) else {
                throw ModelError(source: fb.source, "operator \(index) (\(BuiltinOperator.name(code))) has unsupported fused activation \(raw)")
            }
            return a
        }
        func padding() throws(ModelError) -> Padding {
            guard let t = table else { return .same }
            let raw = try fb.int8(t, 0)
            guard let p = Padding(rawValue: raw) else {
                throw ModelError(source: fb.source, "operator \(index) (\(BuiltinOperator.name(code))) has unknown padding \(raw)")
            }
            return p
        }
        func int(_ field: Int, _ value: Int32 = 0) throws(ModelError) -> Int {
            guard let t = table else { return Int(value) }
            return Int(try fb.int32(t, field, default: value))
        }
        switch code {
        case BuiltinOperator.conv2D:
            // Conv2DOptions: padding, stride_w, stride_h, fused_activation_function, dilation_w, dilation_h.
            return .conv(padding: try padding(), strideW: try int(1), strideH: try int(2),
                         dilationW: try int(4, 1), dilationH: try int(5, 1), activation: try activation(3))
        case BuiltinOperator.depthwiseConv2D:
            // DepthwiseConv2DOptions: padding, stride_w, stride_h, depth_multiplier, activation, dilation_w, dilation_h.
            return .depthwise(padding: try padding(), strideW: try int(1), strideH: try int(2), multiplier: try int(3),
                              dilationW: try int(5, 1), dilationH: try int(6, 1), activation: try activation(4))
        case BuiltinOperator.maxPool2D:
            // Pool2DOptions: padding, stride_w, stride_h, filter_width, filter_height, activation.
            return .pool(padding: try padding(), strideW: try int(1), strideH: try int(2),
                         filterW: try int(3), filterH: try int(4), activation: try activation(5))
        case BuiltinOperator.add, BuiltinOperator.sub, BuiltinOperator.mul, BuiltinOperator.div:
            return .activation(try activation(0))
        case BuiltinOperator.concatenation:
            return .concatenation(axis: try int(0), activation: try activation(1))
        case BuiltinOperator.mean, BuiltinOperator.sum:
            guard let t = table else { return .reducer(keepDims: false) }
            return .reducer(keepDims: try fb.bool(t, 0))
        case BuiltinOperator.stridedSlice:
            guard let t = table else {
                return .stridedSlice(beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0, offset: false)
            }
            return .stridedSlice(beginMask: try int(0), endMask: try int(1), ellipsisMask: try int(2),
                                 newAxisMask: try int(3), shrinkAxisMask: try int(4), offset: try fb.bool(t, 5))
        default:
            return .none
        }
    }
}

/// Builtin operator codes used here, and names for messages.
enum BuiltinOperator {
    static let add = 0, concatenation = 2, conv2D = 3, depthwiseConv2D = 4, dequantize = 6, logistic = 14
    static let maxPool2D = 17, mul = 18, relu = 19, reluN1To1 = 20, relu6 = 21, reshape = 22, custom = 32, pad = 34
    static let transpose = 39, mean = 40, sub = 41, div = 42, stridedSlice = 45, prelu = 54, neg = 59
    static let sum = 74, sqrt = 75, rsqrt = 76, squaredDifference = 99

    static let names: [String] = [
        "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE",
        "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D",
        "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU",
        "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH",
        "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD",
        "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN",
        "SUB", "DIV", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN",
        "EXP", "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU",
        "MAXIMUM", "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "SELECT",
        "SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG",
        "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK",
        "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY",
        "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD", "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU",
        "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS", "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND",
        "COS", "WHERE", "RANK", "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND",
    ]

    static func name(_ code: Int) -> String {
        code >= 0 && code < names.count ? names[code] : "BUILTIN_OPERATOR_\(code)"
    }
}
