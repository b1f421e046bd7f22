import Foundation
import Pipeline
import Stages

/// A command-line option: a flag (`--json`) or an option with a value (`--jobs N`).
/// Commands read options through `OptionSpec` constants, so a misspelt name does not compile.
struct OptionSpec: Sendable {
    var name: String
    var valueName: String?
    var repeatable = false
    var help: String
    var isFlag: Bool { valueName == nil }
}

extension OptionSpec {
    static let pipeline = OptionSpec(name: "--pipeline", valueName: "FILE", help: "the pipeline file (default: \(DatasetBuild.defaultPipelineFile))")
    static let cache = OptionSpec(name: "--cache", valueName: "DIR", help: "the cache folder (default: \(DatasetBuild.defaultCacheFolder)/ beside the pipeline file)")
    static let set = OptionSpec(name: "--set", valueName: "STAGE.PARAM=JSON", repeatable: true,
                                help: "override a parameter, e.g. --set balance.per_class=5000; a value that is not JSON is a string")
    static let jobs = OptionSpec(name: "--jobs", valueName: "N", help: "worker threads (default: the number of cores)")
    static let json = OptionSpec(name: "--json", help: "print one JSON object on stdout")
}

/// A subcommand: its options, positional arguments and what it does. `run` throws every
/// failure; main.swift alone turns errors into messages and exit codes.
struct CommandSpec: Sendable {
    var name: String
    var summary: String
    var usage: String
    var details: String = ""
    var options: [OptionSpec]
    var positionals: ClosedRange<Int> = 0...0
    var run: @Sendable (ParsedArguments) throws -> Void
}

/// A usage error: exits with 64 (EX_USAGE) and points at the help.
struct UsageError: Error, CustomStringConvertible {
    var message: String
    var command: String?
    var description: String { message }
}

/// The parsed command line of one subcommand.
struct ParsedArguments: Sendable {
    var command: String
    var flags: Set<String> = []
    var values: [String: [String]] = [:]
    var positionals: [String] = []

    func flag(_ option: OptionSpec) -> Bool { flags.contains(option.name) }
    subscript(_ option: OptionSpec) -> String? { values[option.name]?.last }
    func all(_ option: OptionSpec) -> [String] { values[option.name] ?? [] }

    func required(_ option: OptionSpec, _ message: String) throws -> String {
        guard let value = self[option] else { throw UsageError(message: message, command: command) }
        return value
    }

    func int(_ option: OptionSpec, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = self[option] else { return nil }
        guard let n = Int(text), range.contains(n) else {
            throw UsageError(message: "\(option.name) expects a whole number from \(range.lowerBound) to \(range.upperBound), found '\(text)'", command: command)
        }
        return n
    }

    var pipelineFile: String { self[.pipeline] ?? DatasetBuild.defaultPipelineFile }
    var overrides: [ParameterOverride] {
        get throws { try all(.set).map { text throws(PipelineError) in try ParameterOverride(parsing: text) } }
    }

    /// The pipeline, cache, overrides and jobs of a building command (the pipeline is loaded).
    func datasetBuild() throws -> DatasetBuild {
        var build = try DatasetBuild(pipelineFile: pipelineFile, cacheRoot: self[.cache], overrides: try overrides)
        if let jobs = try int(.jobs, in: 1...256) { build.jobs = jobs }
        return build
    }

    /// The cache a version command reads: --cache, or the cache beside --pipeline. The
    /// pipeline file itself is not loaded, so versions stay readable when it is edited or broken.
    var layout: CacheLayout { CacheLayout(root: self[.cache] ?? DatasetBuild.defaultCacheRoot(pipelineFile: pipelineFile)) }

    static func parse(_ args: [String], for command: CommandSpec) throws -> ParsedArguments {
        var parsed = ParsedArguments(command: command.name)
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
