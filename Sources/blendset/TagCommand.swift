import Pipeline

extension OptionSpec {
    static let force = OptionSpec(name: "--force", help: "move the tag if it already points at another version")
    static let delete = OptionSpec(name: "--delete", help: "remove the tag (VERSION is not given)")
}

let tagCommand = CommandSpec(
    name: "tag",
    summary: "name a dataset version (default: latest)",
    usage: "blendset tag NAME [VERSION] [--force] [--delete] [--cache DIR] [--pipeline FILE]",
    details: """
        Tags are kept in cache/tags/NAME. A name uses letters, digits, '.', '_' and '-'; it may not
        start with 'latest' or be all hex digits (it would read as an id prefix). An existing tag
        moves to another version only with --force. 'gc --keep-tagged' keeps tagged versions.
        """,
    options: [.pipeline, .cache, .force, .delete],
    positionals: 1...2,
    run: { args in
        let layout = args.layout
        let name = args.positionals[0]
        let tags = TagStore(layout: layout)
        if args.flag(.delete) {
            guard args.positionals.count == 1 else { throw UsageError(message: "--delete takes only the tag name", command: "tag") }
            let id = try tags.delete(name)
            print("deleted tag \(name) (was \(id.hex.prefix(12)))")
            return
        }
        try TagStore.validate(name)
        let version = try VersionStore(layout: layout).resolve(args.positionals.count > 1 ? args.positionals[1] : "latest")
        let old = tags.get(name)
        try tags.set(name, to: version.id, force: args.flag(.force))
        if let old, old != version.id {
            print("moved tag \(name): \(old.hex.prefix(12)) → \(version.shortID)")
        } else {
            print("tagged \(version.shortID) as \(name)")
        }
    })
