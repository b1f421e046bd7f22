import Testing

@Test func placeholderInferenceTests() { #expect(Bool(true)) }
