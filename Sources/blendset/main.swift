import Foundation
import Basics
import Formats
import Pipeline
import Stages

/// Exit codes, from sysexits.h where one fits.
enum ExitCode {
    static let usage: Int32 = 64       // EX_USAGE: bad command line
    static let dataError: Int32 = 65   // EX_DATAERR: bad input data
    static let noInput: Int32 = 66     // EX_NOINPUT: an input file is missing
    static let software: Int32 = 70    // EX_SOFTWARE: damaged cache or internal error
    static let cantCreate: Int32 = 73  // EX_CANTCREAT: the output path is not a regular file
    static let ioError: Int32 = 74     // EX_IOERR
    static let tempFail: Int32 = 75    // EX_TEMPFAIL: the cache is locked (--no-wait)
    static let config: Int32 = 78      // EX_CONFIG: bad pipeline file or parameter
}

let commands: [CommandSpec] = [buildCommand, statusCommand, dagCommand, showCommand, extractCommand,
                               versionsCommand, tagCommand, manifestCommand, diffCommand, compareCommand, exportCommand, gcCommand, checkCommand] + trainCommands + [exportModelCommand]

func mainHelp() -> String {
    let width = commands.map(\.name.count).max() ?? 0
    let list = commands.map { "  \($0.name.padding(toLength: width, withPad: " ", startingAt: 0))  \($0.summary)" }.joined(separator: "\n")
    return """
        blendset — a build system for facial-expression datasets

        USAGE: blendset COMMAND [OPTIONS]

        COMMANDS:
        \(list)
          help [COMMAND]  show help for a command; 'blendset help stages' lists stage kinds and parameters

        Run from the project folder: the default pipeline is ./\(DatasetBuild.defaultPipelineFile) and results go to ./\(DatasetBuild.defaultCacheFolder).
        Exit codes: 0 ok, 64 usage, 65 bad input data, 66 missing input, 70 damaged cache (a bad or missing
        object), 73 output exists and is not a regular file, 74 I/O error, 75 cache locked, 78 bad pipeline or parameter.
        """
}

func commandHelp(_ c: CommandSpec) -> String {
    let width = c.options.map { $0.name.count + ($0.valueName.map { $0.count + 1 } ?? 0) }.max() ?? 0
    let options = c.options.map { o -> String in
        let head = o.name + (o.valueName.map { " " + $0 } ?? "")
        return "  \(head.padding(toLength: width, withPad: " ", startingAt: 0))  \(o.help)"
    }.joined(separator: "\n")
    var text = "\(c.summary)\n\nUSAGE: \(c.usage)\n"
    if !c.details.isEmpty { text += "\n\(c.details)\n" }
    if !options.isEmpty { text += "\nOPTIONS:\n\(options)\n  --help  show this help\n" }
    return text
}

func exitCode(for error: PipelineError) -> Int32 {
    switch error {
    case .invalidPipeline, .unknownStageKind, .unknownParameter, .invalidParameter, .unknownInput, .cycle: return ExitCode.config
    case .unknownStage, .invalidShard: return ExitCode.usage
    case .missingInput, .missingPipelineFile: return ExitCode.noInput
    case .cacheLocked: return ExitCode.tempFail
    case .stageFailed(_, let underlying as PipelineError): return exitCode(for: underlying)
    case .stageFailed: return ExitCode.dataError
    case .cacheCorrupt: return ExitCode.software
    case .io: return ExitCode.ioError
    }
}

func run(_ arguments: [String]) -> Int32 {
    func fail(_ message: String, _ code: Int32) -> Int32 {
        writeError("blendset: error: \(MessageText.sanitized(message))\n")
        return code
    }
    guard let first = arguments.first else {
        print(mainHelp())
        return ExitCode.usage
    }
    if first == "--help" || first == "-h" {
        print(mainHelp())
        return 0
    }
    if first == "--version" { print("blendset \(blendsetVersion)"); return 0 }
    if first == "help" {
        guard let topic = arguments.dropFirst().first else { print(mainHelp()); return 0 }
        if topic == "stages" { print(standardStages.help); return 0 }
        guard let c = commands.first(where: { $0.name == topic }) else {
            return fail("no command '\(topic)'; commands: \(commands.map(\.name).joined(separator: ", ")), stages", ExitCode.usage)
        }
        print(commandHelp(c))
        return 0
    }
    guard let command = commands.first(where: { $0.name == first }) else {
        return fail("unknown command '\(first)'; commands: \(commands.map(\.name).joined(separator: ", ")). See 'blendset --help'.", ExitCode.usage)
    }
    let rest = Array(arguments.dropFirst())
    if rest.contains("--help") || rest.contains("-h") {
        print(commandHelp(command))
        return 0
    }
    do {
        try command.run(try ParsedArguments.parse(rest, for: command))
        return 0
    } catch {
        let (message, code) = failure(error, command: command.name)
        return fail(message, code)
    }
}

/// The one mapping from an error to its message and exit code: usage errors point at the
/// command's help; everything else is named by its type.
func failure(_ error: any Error, command: String) -> (message: String, code: Int32) {
    func usage(_ message: String, _ name: String? = nil) -> (String, Int32) { ("\(message)\nSee 'blendset help \(name ?? command)'.", ExitCode.usage) }
    switch error {
    case let e as UsageError: return usage(e.message, e.command)
    case let e as TuneError: return usage(e.description)
    case let e as VersionError:
        // A bad reference or tag is bad usage; no versions, or a version that names no such
        // artifact, is missing input (a deleted object is a damaged cache, 70); a version
        // without what the command needs is bad data.
        switch e {
        case .unknownVersion, .ambiguousVersion, .notThatManyVersions, .invalidTagName, .tagExists, .noSuchTag, .unknownStage:
            return usage(e.description)
        case .noVersions, .missingArtifact: return (e.description, ExitCode.noInput)
        case .unsupported: return (e.description, ExitCode.dataError)
        }
    case let e as PredictError:
        switch e {
        case .modelMissing, .inputUnreadable: return (e.description, ExitCode.noInput)
        case .modelInvalid: return (e.description, ExitCode.dataError)
        }
    case let e as ImageReadFailures: return (e.description, ExitCode.dataError)
    case let e as PipelineError: return (e.description, exitCode(for: e))
    case let e as StrictWarningsError: return (e.description, ExitCode.dataError)
    case let e as FormatError: return (e.description, [.cannotCreate: ExitCode.cantCreate, .writeFailed: ExitCode.ioError][e.kind] ?? ExitCode.dataError)
    default: return ("\(error)", ExitCode.software)
    }
}

exit(run(Array(CommandLine.arguments.dropFirst())))
