// libFuzzer target: the pipeline JSON parser, then BuildPlan validation against the real
// stage registry (parameter decoding, input references, cycles).
import Pipeline
import Stages

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let value = try? JSONParser.parse(bytes) {
        // A parsed document must print and parse again to the same value.
        let again = try? JSONParser.parse(value.pretty())
        precondition(again == value, "JSON pretty-print does not parse back to the same value")
    }
    do {
        let plan = try BuildPlan.parse(bytes, file: "fuzz/pipeline.json", registry: standardStages,
                                       workingDirectory: "/nonexistent-fuzz-dir")
        precondition(!plan.stages.isEmpty)
    } catch {
        _ = error.description
    }
    return 0
}
