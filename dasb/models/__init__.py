"""Pretrained models the benchmarks use as measuring instruments (ASR, speaker encoders)."""
