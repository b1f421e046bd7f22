import Pipeline

/// Every stage kind this build of blendset provides.
public let standardStages = StageRegistry([
    IngestStage.self, SelectStage.self, SplitStage.self, LandmarksStage.self, BlendshapesStage.self,
    AugmentStage.self, BalanceStage.self, TruncateStage.self, OneHotStage.self, DatasetStage.self,
    TrainStage.self,
])
