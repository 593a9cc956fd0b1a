"""A user mistake on the command line is one line on stderr naming the file or option, and exit status 2."""
import json

import pytest

from dasb.cli import main
from dasb.results.store import RECORDS_FILE, REJECTED_FILE
from dasb.runner import Runner
from dasb.suites import Suite

RUN = ["run", "--tokenizers", "pcm16", "--benchmarks", "tokens", "--no-cache"]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "syntax.yaml").write_text("name: x\ndataset: [unclosed\n")
    (tmp_path / "tag.yaml").write_text("name: !!python/object/apply:os.system ['echo pwned']\ndataset: mini\ntokenizers: [pcm16]\n")
    (tmp_path / "list.yaml").write_text("- just\n- a list\n")
    (tmp_path / "a_file").write_text("x")
    Runner(Suite("t", "mini", ["pcm16"], {"tokens": {"max_utterances": 1}}), tmp_path / "run", progress=False).run()
    not_object = tmp_path / "not_object"
    not_object.mkdir()
    line = (tmp_path / "run" / RECORDS_FILE).read_text().splitlines()[0]
    (not_object / RECORDS_FILE).write_text("[1, 2]\n" + line + "\n")
    (tmp_path / "site").mkdir()
    return tmp_path


CASES = [
    (["run", "--suite", "{d}/syntax.yaml"], "syntax.yaml"),
    (["run", "--suite", "{d}/tag.yaml"], "tag.yaml"),
    (["run", "--suite", "{d}/list.yaml"], "list.yaml"),
    (RUN + ["--out", "{d}/a_file"], "a_file"),
    (RUN[:-1] + ["--out", "{d}/r", "--cache-dir", "{d}/a_file"], "--cache-dir"),
    (RUN + ["--workers", "0"], "--workers"),
    (RUN + ["--workers", "-1"], "--workers"),
    (RUN + ["--batch-size", "0"], "--batch-size"),
    (RUN + ["--batch-size", "-3"], "--batch-size"),
    (RUN + ["--device", "bogus"], "--device"),
    (RUN[:1] + ["--tokenizers", "pcm_16", "--out", "{d}/r"], "pcm16"),
    (["leaderboard", "{d}/run", "--format", "md", "--out", "{d}/site"], "site"),
    (["leaderboard", "{d}/not_object"], "not_object/records.jsonl:1"),
    (["leaderboard", "{d}/nowhere"], "nowhere"),
]


@pytest.mark.parametrize("argv, names", CASES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CASES])
def test_a_user_mistake_is_one_line_and_exit_2(files, capsys, argv, names):
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main([a.format(d=files) for a in argv]))
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err and names in err, err


def test_the_suite_yaml_never_runs_code(files, capsys):
    main(["run", "--suite", str(files / "tag.yaml")])
    assert "pwned" not in capsys.readouterr().out


def test_run_repair_moves_a_bad_records_line_aside(files):
    out = files / "not_object"
    assert main(RUN + ["--repair", "--out", str(out)]) == 0
    assert (out / REJECTED_FILE).read_text() == "[1, 2]\n"
    assert all(isinstance(json.loads(line), dict) for line in (out / RECORDS_FILE).read_text().splitlines())
