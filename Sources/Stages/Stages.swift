import Pipeline
public enum StagesModule {}
