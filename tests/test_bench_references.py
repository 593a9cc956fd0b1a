"""``dasb bench --references`` runs end to end on a tiny selection and prints its fields (no timing checks)."""
from dasb.speed_references import METRICS
from dasb.cli import main


def test_bench_references_prints_times_ratio_and_differences(capsys):
    # 1 utterance through pcm8, pcm6, mulaw8-8k and codec2-3200 (a codec whose delay is compensated).
    assert main(["bench", "--references", "--data", "mini", "--utterances", "1", "--pairs", "4", "--workers", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    fields = dict(line.split(None, 1) for line in lines if not line.startswith("delay compensated"))
    assert fields["pairs"] == "4" and fields["settings"] == "pcm8,pcm6,mulaw8-8k,codec2-3200"
    for key in ("reference_serial_s", "dasb_s", "dasb_worker_startup_s", "ratio_dasb_to_reference", "load_average_1min"):
        assert float(fields[key]) >= 0, key
    for key in ("reference_serial_cpu_s", "dasb_workers_cpu_s", "cpu_ratio_dasb_to_reference"):
        assert float(fields[key]) > 0, key  # every item reports the CPU time it took
    for metric in METRICS:
        # Both sides score the same aligned arrays: equal values, with or without a delay removed.
        assert float(fields[f"{metric}_max_abs_diff_no_delay"]) <= 1e-6, metric
        assert float(fields[f"{metric}_max_abs_diff_delay"]) <= 1e-6, metric
        assert fields[f"{metric}_one_side_only"] == "0", metric
    assert int(fields["pairs_with_delay_compensated"]) >= 1
    assert [line for line in lines if line.startswith("delay compensated, codec2-3200")]
