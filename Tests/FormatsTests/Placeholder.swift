import Testing

@Test func placeholderFormatsTests() { #expect(Bool(true)) }
