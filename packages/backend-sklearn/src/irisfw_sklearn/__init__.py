"""scikit-learn backend for irisfw: MLPClassifier driven by a ModelSpec."""
