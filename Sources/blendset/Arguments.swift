/// A command-line option: a flag (`--json`) or an option with a value (`--jobs N`).
struct OptionSpec: Sendable {
    var name: String
    var valueName: String?
    var repeatable = false
    var help: String
    var isFlag: Bool { valueName == nil }
}

/// A subcommand: its options, positional arguments and what it does.
struct CommandSpec: Sendable {
    var name: String
    var summary: String
    var usage: String
    var details: String = ""
    var options: [OptionSpec]
    var positionals: ClosedRange<Int> = 0...0
    var run: @Sendable (ParsedArguments) throws -> Int32
}

/// A usage error: exits with 64 (EX_USAGE) and points at the help.
struct UsageError: Error, CustomStringConvertible {
    var message: String
    var command: String?
    var description: String { message }
}

/// The parsed command line of one subcommand.
struct ParsedArguments {
    var flags: Set<String> = []
    var values: [String: [String]] = [:]
    var positionals: [String] = []

    func flag(_ name: String) -> Bool { flags.contains(name) }
    func value(_ name: String) -> String? { values[name]?.last }
    func all(_ name: String) -> [String] { values[name] ?? [] }

    func int(_ name: String, in range: ClosedRange<Int>, command: String) throws -> Int? {
        guard let text = value(name) else { return nil }
        guard let n = Int(text), range.contains(n) else {
            throw UsageError(message: "\(name) expects a whole number from \(range.lowerBound) to \(range.upperBound), found '\(text)'", command: command)
        }
        return n
    }

    static func parse(_ args: [String], for command: CommandSpec) throws -> ParsedArguments {
        var parsed = ParsedArguments()
        var i = 0
        var onlyPositionals = false
        while i < args.count {
            let arg = args[i]
            i += 1
            if onlyPositionals || !arg.hasPrefix("-") || arg == "-" {
                parsed.positionals.append(arg)
                continue
            }
            if arg == "--" { onlyPositionals = true; continue }
            var name = arg
            var inline: String?
            if let eq = arg.firstIndex(of: "="), arg.hasPrefix("--") {
                name = String(arg[..<eq])
                inline = String(arg[arg.index(after: eq)...])
            }
            guard let spec = command.options.first(where: { $0.name == name }) else {
                let known = command.options.map(\.name).joined(separator: ", ")
                throw UsageError(message: "unknown option '\(name)' for '\(command.name)'" + (known.isEmpty ? "" : "; it takes: \(known)"), command: command.name)
            }
            if spec.isFlag {
                if inline != nil { throw UsageError(message: "\(name) takes no value", command: command.name) }
                parsed.flags.insert(name)
            } else {
                let value: String
                if let inline { value = inline } else {
                    guard i < args.count else { throw UsageError(message: "\(name) needs a value (\(spec.valueName!))", command: command.name) }
                    value = args[i]
                    i += 1
                }
                if !spec.repeatable, parsed.values[name] != nil {
                    throw UsageError(message: "\(name) is given twice", command: command.name)
                }
                parsed.values[name, default: []].append(value)
            }
        }
        let range = command.positionals
        if !range.contains(parsed.positionals.count) {
            let what = parsed.positionals.count < range.lowerBound ? "missing argument" : "unexpected argument '\(parsed.positionals[range.upperBound])'"
            throw UsageError(message: "\(what); usage: \(command.usage)", command: command.name)
        }
        return parsed
    }
}
