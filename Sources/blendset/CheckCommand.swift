import Pipeline

let checkCommand = CommandSpec(
    name: "check", summary: "read the whole cache back and report (--repair: move aside) damaged files",
    usage: "blendset check [--repair] [--json] [--cache DIR] [--pipeline FILE]", details: CacheChecker.help,
    options: [.pipeline, .cache, .json, OptionSpec(name: "--repair", help: "move damaged files to cache/quarantine/")],
    run: { args in
        let r = try CacheChecker(cacheRoot: args.layout.root).check(repair: args.flags.contains("--repair"), progress: { writeError("  \($0)\n") })
        print(args.flag(.json) ? r.json.pretty() : r.text)
        if !r.isClean { throw CacheDamageFound(r) }
    })
