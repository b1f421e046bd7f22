import Foundation
import Testing

/// Sharded builds on one cache, run as real processes at once, and the deployments in deploy/.
@Suite("Sharded builds")
struct ShardCLITests {
    static let pipeline = URL(fileURLWithPath: "benchmarks/pipeline-dataset.json").standardizedFileURL.path
    /// A class target the fixture cannot reach without filling, so the deferred work runs too.
    static let settings = ["--set", "ingest.source=\(CLI.fixture)", "--set", "augment.per_class_target=60", "--set", "balance.per_class=50"]

    static func build(_ cache: String, _ extra: [String]) throws -> CLI.Result {
        try CLI.run(["build", "--pipeline", pipeline, "--cache", cache] + settings + extra)
    }

    static func version(_ text: String) -> String? {
        text.split(separator: "\n").first { $0.hasPrefix("version ") }.map { String($0.split(separator: " ")[1]) }
    }

    @Test("4 shards at once, then the merge: the unsharded version id, no image extracted, a clean cache")
    func shardsThenMerge() throws {
        let clean = try Self.build(CLI.folder() + "/cache", [])
        #expect(clean.status == 0, "\(clean.stderr)")
        let cache = CLI.folder() + "/cache"
        nonisolated(unsafe) var results = [CLI.Result?](repeating: nil, count: 4)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 4) { k in
            let r = try? Self.build(cache, ["--shard", "\(k)/4", "--jobs", "1", "--json"])
            lock.lock(); results[k] = r; lock.unlock()
        }
        var computed = 0
        var finishedDeferred = 0
        for (k, r) in results.enumerated() {
            let r = try #require(r)
            #expect(r.status == 0, "shard \(k): \(r.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            #expect(report["shard"] as? Int == k && report["of"] as? Int == 4)
            computed += report["items_computed"] as? Int ?? 0
            // A shard did the fill: in its second pass, or in its first if it started late
            // enough to find every other image in the memo (then it deferred nothing).
            if report["finished_deferred"] as? Bool == true || (report["deferred"] as? [Any])?.isEmpty == true { finishedDeferred += 1 }
            // A shard writes no stage output, run record, head or version.
            for folder in ["runs", "heads", "versions", "objects"] {
                #expect(((try? FileManager.default.contentsOfDirectory(atPath: cache + "/" + folder)) ?? []).isEmpty, "\(folder) after shard \(k)")
            }
        }
        #expect(computed > 0)
        #expect(finishedDeferred >= 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache + "/shards").count == 4)
        let merge = try Self.build(cache, [])
        #expect(merge.status == 0, "\(merge.stderr)")
        #expect(Self.version(merge.stdout) == Self.version(clean.stdout) && Self.version(clean.stdout) != nil, "\(merge.stdout)")
        #expect(merge.stdout.contains("face models: 0 images extracted"), "\(merge.stdout)")
        #expect(merge.stdout.contains("shards: all 4 of 4 reported"), "\(merge.stdout)")
        let check = try CLI.run(["check", "--cache", cache])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    }

    @Test("a missing shard is named by the merge, which computes its items itself")
    func missingShard() throws {
        let cache = CLI.folder() + "/cache"
        for k in [0, 2] { #expect(try Self.build(cache, ["--shard", "\(k)/3"]).status == 0) }
        let merge = try Self.build(cache, [])
        #expect(merge.status == 0, "\(merge.stderr)")
        #expect(merge.stdout.contains("shards: 2 of 3 reported; missing: 1"), "\(merge.stdout)")
        #expect(!merge.stdout.contains("face models: 0 images extracted"))
    }

    @Test("bad --shard use is a usage error (64)", arguments: [
        ["--shard", "4/4"], ["--shard", "two"], ["split", "--shard", "0/2"], ["--shard-count", "3"], ["--shard", "0/2", "--shard-count", "2"],
    ])
    func usage(_ extra: [String]) throws {
        let r = try Self.build(CLI.folder() + "/cache", extra)
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("shard"))
    }

    @Test("--shard auto reads a Kubernetes index with its count from the environment")
    func autoFromEnvironment() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        let cache = CLI.folder() + "/cache"
        p.arguments = ["build", "--pipeline", Self.pipeline, "--cache", cache] + Self.settings + ["--shard", "auto", "--json"]
        p.environment = ["JOB_COMPLETION_INDEX": "1", "BLENDSET_SHARD_COUNT": "2", "PATH": "/usr/bin:/bin"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(report["shard"] as? Int == 1 && report["of"] as? Int == 2)
    }

    @Test("gc --memo-compact merges the shards' packs into one per memo folder; the build stays a no-op")
    func memoCompact() throws {
        let cache = CLI.folder() + "/cache"
        for k in 0..<2 { #expect(try Self.build(cache, ["--shard", "\(k)/2"]).status == 0) }
        let merged = try Self.build(cache, [])
        let gc = try CLI.run(["gc", "--memo-compact", "--cache", cache])
        #expect(gc.status == 0, "\(gc.stderr)")
        for folder in try FileManager.default.contentsOfDirectory(atPath: cache + "/memo") {
            #expect(try FileManager.default.contentsOfDirectory(atPath: cache + "/memo/" + folder).count == 1)
        }
        #expect(try CLI.run(["check", "--cache", cache]).status == 0)
        // Every item is still found: a fresh build of the same plan extracts nothing.
        try FileManager.default.removeItem(atPath: cache + "/runs")
        let again = try Self.build(cache, [])
        #expect(Self.version(again.stdout) == Self.version(merged.stdout) && again.stdout.contains("face models: 0 images extracted"), "\(again.stdout)")
        #expect(try CLI.run(["gc", "--memo-compact", "--memo", "--cache", cache]).status == 64)
    }

    @Test("the Kubernetes manifests: an Indexed Job and a merge Job on one shared claim, counts that agree")
    func kubernetesManifests() throws {
        let shards = try String(contentsOfFile: "deploy/k8s/shards-job.yaml", encoding: .utf8)
        let merge = try String(contentsOfFile: "deploy/k8s/merge-job.yaml", encoding: .utf8)
        let pvc = try String(contentsOfFile: "deploy/k8s/pvc.yaml", encoding: .utf8)
        func value(_ text: String, _ key: String) -> [String] {
            text.split(separator: "\n").compactMap { line in
                let t = line.trimmingCharacters(in: .whitespaces)
                guard t.hasPrefix(key + ":") else { return nil }
                return t.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        #expect(value(shards, "kind") == ["Job"] && value(merge, "kind") == ["Job"] && value(pvc, "kind") == ["PersistentVolumeClaim"])
        #expect(value(shards, "completionMode") == ["Indexed"])
        let n = value(shards, "completions")
        #expect(n.count == 1 && value(shards, "parallelism") == n)
        // The count the pods read must be the Job's completions.
        let lines = shards.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let countLine = try #require(lines.firstIndex(of: "- name: BLENDSET_SHARD_COUNT"))
        #expect(lines[countLine + 1] == "value: \"\(n[0])\"")
        let claim = value(pvc.replacingOccurrences(of: "  name:", with: "claimName:"), "claimName")
        #expect(value(shards, "claimName") == claim && value(merge, "claimName") == claim)
        #expect(pvc.contains("ReadWriteMany"))
        #expect(shards.contains("\"--shard\", \"auto\"") && !merge.contains("--shard"))
        #expect(value(shards, "restartPolicy") == ["Never"])
        // With PyYAML at hand, also a real parse of the structure.
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", """
            import sys, yaml
            s = yaml.safe_load(open('deploy/k8s/shards-job.yaml')); m = yaml.safe_load(open('deploy/k8s/merge-job.yaml'))
            spec = s['spec']; pod = spec['template']['spec']; c = pod['containers'][0]
            assert spec['completionMode'] == 'Indexed' and spec['completions'] == spec['parallelism']
            assert {e['name']: e['value'] for e in c['env']}['BLENDSET_SHARD_COUNT'] == str(spec['completions'])
            assert c['command'][:4] == ['blendset', 'build', '--shard', 'auto']
            assert pod['volumes'][0]['persistentVolumeClaim']['claimName'] == m['spec']['template']['spec']['volumes'][0]['persistentVolumeClaim']['claimName']
            assert '--shard' not in m['spec']['template']['spec']['containers'][0]['command']
            """]
        python.standardError = FileHandle.nullDevice
        try python.run()
        python.waitUntilExit()
        // 0: parsed and checked; 1 with ImportError would mean no PyYAML, so look at the module first.
        let hasYAML = Process()
        hasYAML.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        hasYAML.arguments = ["python3", "-c", "import yaml"]
        hasYAML.standardError = FileHandle.nullDevice
        try? hasYAML.run()
        hasYAML.waitUntilExit()
        if hasYAML.terminationStatus == 0 { #expect(python.terminationStatus == 0) }
    }

    @Test("the Slurm scripts: an array of shards with --shard auto and a merge queued afterok")
    func slurmScripts() throws {
        let shards = try String(contentsOfFile: "deploy/slurm/shards.sbatch", encoding: .utf8)
        let merge = try String(contentsOfFile: "deploy/slurm/merge.sbatch", encoding: .utf8)
        let submit = try String(contentsOfFile: "deploy/slurm/submit.sh", encoding: .utf8)
        #expect(shards.contains("build --shard auto") && !merge.contains("--shard"))
        #expect(submit.contains("--array=0-") && submit.contains("--dependency=afterok:"))
    }
}
