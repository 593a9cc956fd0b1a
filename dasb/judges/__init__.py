"""The judges: pretrained models the benchmarks use as measuring instruments (ASR, speaker encoders, quality
predictors), and which of them a run uses (:mod:`dasb.judges.choice`)."""
