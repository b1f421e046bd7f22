/// The version of this program; part of every version record.
public let blendsetVersion = "0.1.0"
