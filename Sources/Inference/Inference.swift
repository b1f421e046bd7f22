public enum InferenceModule {}
