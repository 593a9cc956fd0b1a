"""Command line: a thin layer over the library.

    dasb list tokenizers|benchmarks|metrics|suites
    dasb info NAME
    dasb run [--suite S] [--tokenizers a,b] [--benchmarks x,y] [--data PATH|mini] [--out DIR]
             [--workers N] [--cache-dir DIR | --no-cache] [--executor local|ray [--address ADDR]] [--repair]
    dasb score --ref DATA --decoded DIR --name NAME [--tokens DIR --frame-rate F --codebook-size N]
               [--kbps K | --coded DIR] [--compare RUN_DIR...]
    dasb bench [--references [--data D] [--workers N]] | dasb cache info|prune
    dasb leaderboard RUN_DIR... [--format md|csv|html] [--out FILE|DIR]
    dasb compare RUN_DIR... A B [--benchmark X] [--metric Y]
    dasb doctor
    dasb weights list|fetch|verify [NAMES | --suite S]
    dasb train kmeans --model ID --layers 3,7,12 --k 500 --data CORPUS --out DIR
    dasb train baseline|mfcc-kmeans [--data CORPUS] --out DIR [--seed N]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from dasb.registry import ADAPTERS, BENCHMARKS, METRICS, RegistryError
from dasb.results.store import REJECTED_FILE, RunDirInUse

if TYPE_CHECKING:
    from dasb.leaderboard.merge import Merged
    from dasb.runner import RunSummary


def _cmd_list(args: argparse.Namespace) -> int:
    if args.what == "tokenizers":
        from dasb.doctor import check_card
        from dasb.tokenizers.cards import load_cards

        def fmt(v: float | None, spec: str) -> str:
            return "-".rjust(int(spec.split(".")[0].rstrip("d"))) if v is None else format(v, spec)

        # --all adds "built": the adapter is dasb's own and imports here, so its architecture is built and
        # conformance-checked with random weights by dasb's tests, whether or not the weights are on this machine.
        built_col = f" {'built':<5}" if args.all else ""
        rows = [f"{'name':<26} {'adapter':<14} {'kind':<16} {'kbps':>7} {'Hz':>8} {'K':>3} {'runs here':<9}{built_col} notes"]
        for card in load_cards().values():
            if card.status != "available" and not args.all:
                continue
            r = check_card(card)
            note = (card.description or "") if r.ok else r.fix
            if args.all:
                built = card.status == "available" and ADAPTERS.source(card.adapter) == "dasb" and "install" not in (r.fix or "")
                built_col = f" {'yes' if built else 'no':<5}"
                note = f"{note}; weights: {card.weights}" if card.weights and not r.ok else note
            rows.append(f"{card.name:<26} {card.adapter:<14} {r.kind or '-':<16} {fmt(r.bitrate_kbps, '7.3f')} "
                        f"{fmt(r.frame_rate, '8.2f')} {fmt(r.codebooks, '3d')} {'yes' if r.ok else 'no':<9}{built_col} {note}")
        print("\n".join(rows))
    elif args.what == "suites":
        from dasb.suites import list_suites

        print("\n".join(list_suites()))
    elif args.what == "metrics":
        from dasb.specs import catalogue

        print(f"{'metric':<34} {'benchmark':<15} {'direction':<22} {'unit':<11} {'range':<12} aggregation")
        for bench, s in catalogue():
            print(f"{s.name:<34} {bench:<15} {(s.arrow or '·') + ' ' + s.direction:<22} {s.unit or '-':<11} "
                  f"{s.range or '-':<12} {s.aggregation}{' (headline)' if s.headline else ''}")
        for name in METRICS.names():
            s = METRICS.get(name).spec()
            print(f"{s.name:<34} {'(signal)':<15} {(s.arrow or '·') + ' ' + s.direction:<22} {s.unit or '-':<11} "
                  f"{s.range or '-':<12} for reconstruction/levels `metrics:` (from {METRICS.source(name)})")
        print("(with default settings; tokens also reports cb<k>_<metric> per codebook, and metrics named after a "
              "setting such as streaming chunk sizes follow the suite's settings)")
    else:
        registry = {"benchmarks": BENCHMARKS, "adapters": ADAPTERS}[args.what]
        for name in registry.names():
            print(f"{name:<24} {registry.source(name)}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from dasb.tokenizers.cards import load_cards

    cards = load_cards()
    if args.name in cards:
        card = cards[args.name]
        out = card.to_dict()
        if card.status == "available" and (notice := ADAPTERS.get(card.adapter).trust_notice(card.params)):
            out["trust"] = notice
        try:
            info = card.build("cpu").info
            out["info"] = {
                "kind": info.kind, "sample_rate": info.sample_rate, "num_codebooks": info.num_codebooks,
                "codebook_sizes": list(info.codebook_sizes), "frame_rate": info.frame_rate,
                "nominal_bitrate": info.nominal_bitrate, "causal": info.causal, "decodes": info.decodes,
            }
        except Exception as err:
            out["info"] = f"cannot build here: {type(err).__name__}: {err}"
        print(json.dumps(out, indent=2, default=str))
        return 0
    from dasb.specs import catalogue, describe_benchmark

    if args.name in BENCHMARKS.names():
        cls = BENCHMARKS.get(args.name)
        print(f"benchmark {args.name} (from {BENCHMARKS.source(args.name)})\n\n{(cls.__doc__ or '').strip()}\n")
        print(describe_benchmark(cls))
        return 0
    found = [(b, s) for b, s in catalogue() if s.name == args.name]
    if found:
        for bench, s in found:
            print(f"metric {s.name} of benchmark {bench}: {s.direction}; unit {s.unit or '-'}; range {s.range or '-'}; "
                  f"aggregation: {s.aggregation}{'; headline' if s.headline else ''}\n  {s.description}")
        return 0
    raise RegistryError(f"no tokenizer, benchmark or metric called {args.name!r}; try `dasb list tokenizers`")


def _cmd_run(args: argparse.Namespace) -> int:
    from dasb.leaderboard.merge import merge_runs
    from dasb.settings import cache_dir as default_cache_dir
    from dasb.runner import Runner
    from dasb.suites import load_suite
    from dasb.timings import TIMINGS_FILE

    suite = load_suite(args.suite)
    if args.tokenizers:
        suite.tokenizers = args.tokenizers.split(",")
        suite.optional = []  # asked for by name: missing weights are errors
    if args.benchmarks:
        wanted = args.benchmarks.split(",")
        suite.benchmarks = {b: suite.benchmarks.get(b, {}) for b in wanted}
    if args.data:
        suite.dataset = args.data
    if args.batch_size:
        suite.batch_size = args.batch_size
    if args.half:
        suite.half = True
    out = Path(args.out or Path("runs") / suite.name)
    cache_dir = None if args.no_cache else (args.cache_dir or default_cache_dir())
    if cache_dir is not None and Path(cache_dir).exists() and not Path(cache_dir).is_dir():
        raise ValueError(f"--cache-dir {cache_dir}: is a file, not a folder")
    if args.executor == "ray":
        from dasb.executors import run_with_ray

        summary = run_with_ray(suite, out, args.device, args.overwrite, cache_dir, args.address)
    else:
        runner = Runner(suite, out, device=args.device, overwrite=args.overwrite, cache_dir=cache_dir,
                        workers=args.workers, repair=args.repair)
        summary = runner.run()
        print(f"time breakdown (also in {out / TIMINGS_FILE}):\n{runner.breakdown.table()}\n")
    merged = merge_runs([out])
    print(_overview(merged))
    print(f"(headline metric per benchmark; every metric: dasb leaderboard {out} [--format md|csv|html])")
    return _report(out, summary)


def _overview(merged: "Merged") -> str:
    """The headline table of merged runs, with the fitness figures of columns whose judge is unfit."""
    from dasb.fitness import unfit_columns
    from dasb.leaderboard import build, markdown, overview
    from dasb.leaderboard.table import headlines, unfit_notes

    unfit = unfit_columns(merged.records)
    shown = [f"{b}/{m}" for b, m in headlines(merged.specs).items()]
    return markdown(overview(build(merged.records, merged.meta), merged.specs, unfit)) + unfit_notes(shown, unfit)


def _report(out: Path, summary: RunSummary) -> int:
    """Print what a run wrote and its first errors; the exit status."""
    w = summary.written
    print(f"run directory: {out}\nwritten now: {w['ok']} ok, {w['error']} error, {w['skipped']} skipped records")
    if summary.errors:
        print(f"{len(summary.errors)} error record(s) in this run, e.g.:", file=sys.stderr)
        for rec in summary.errors[:5]:
            print(f"  {rec.tokenizer} / {rec.benchmark} / {rec.utterance or 'aggregate'} / {rec.metric}: {rec.message}", file=sys.stderr)
    return summary.exit_code


def _cmd_score(args: argparse.Namespace) -> int:
    from dasb.leaderboard.merge import merge_runs
    from dasb.score import dataset_mismatches, external_card, score

    sizes = None if args.codebook_size is None else [int(x) for x in args.codebook_size.split(",")]
    sizes = sizes[0] if sizes is not None and len(sizes) == 1 else sizes  # one size for --codebooks codebooks
    card = external_card(args.name, decoded=args.decoded, tokens=args.tokens, frame_rate=args.frame_rate,
                         codebook_size=sizes, num_codebooks=args.codebooks, kbps=args.kbps, coded=args.coded,
                         align=args.align, duration_tolerance=args.duration_tolerance)
    out = Path(args.out or Path("runs") / args.name)
    summary = score(card, args.ref, out, args.suite, args.benchmarks.split(",") if args.benchmarks else None,
                    args.workers, args.overwrite)
    merged = merge_runs([out, *args.compare])
    for warning in [*dataset_mismatches(out, args.compare), *merged.warnings]:
        print(f"dasb: warning: {warning}", file=sys.stderr)
    print(_overview(merged))
    return _report(out, summary)


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.references:
        from dasb.speed_references import main as bench_references

        bench_references(args.data, args.workers or 2, args.utterances, args.pairs)
        return 0
    from dasb.speed import main as bench

    bench(args.suite, args.workers, args.long_minutes, args.long_tokenizer)
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from dasb.result_cache import Caches
    from dasb.settings import cache_dir as default_cache_dir

    root = Path(args.cache_dir or default_cache_dir())
    cache = Caches.at(root)
    if args.action == "prune":
        print(f"removed {cache.prune(args.older_than_days)} file(s) from {root}")
    else:
        print(json.dumps(cache.info(), indent=2))
    return 0


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from dasb.fitness import unfit_columns
    from dasb.leaderboard import build, render
    from dasb.leaderboard.merge import environment_differences, merge_runs

    merged = merge_runs(args.run_dirs)
    for warning in merged.warnings + environment_differences(merged.records, merged.invocations):
        print(f"dasb: warning: {warning}", file=sys.stderr)
    if args.format == "html":
        from dasb.leaderboard.html import write_site

        if not args.out:
            raise ValueError("--format html needs --out DIR")
        print(f"leaderboard site: {write_site(merged, args.out)}")
        return 0
    text = render(build(merged.records, merged.meta), args.format, merged.specs, unfit_columns(merged.records))
    if args.out and Path(args.out).is_dir():
        raise ValueError(f"--out {args.out}: is a folder; --format {args.format} writes one file")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from dasb.leaderboard.compare import comparable_metrics, compare
    from dasb.leaderboard.merge import environment_differences, merge_runs

    merged = merge_runs(args.run_dirs)
    compared = [r for r in merged.records if r.tokenizer in (args.a, args.b)]
    for warning in merged.warnings + environment_differences(compared, merged.invocations):
        print(f"dasb: warning: {warning}", file=sys.stderr)
    pairs = [
        (bench, metric)
        for bench, metric in comparable_metrics(merged.records, args.a, args.b)
        if args.benchmark in (None, bench) and args.metric in (None, metric)
    ]
    if not pairs:
        raise ValueError(f"no per-utterance records to compare {args.a!r} and {args.b!r} on")
    failed = 0
    for bench, metric in pairs:
        try:
            print(compare(merged.records, args.a, args.b, bench, metric).summary())
        except ValueError as err:  # one metric that cannot be compared does not hide the others
            print(f"dasb: {bench}/{metric}: cannot compare: {err}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from dasb.doctor import report

    print(report())
    return 0


def _cmd_weights(args: argparse.Namespace) -> int:
    from dasb.weights import command

    items = command.entries(args.names, args.suite)
    if args.action == "list":
        print("\n".join(command.list_rows(items)))
        return 0
    if args.action == "fetch":
        if not args.names and not args.suite:
            raise ValueError("dasb weights fetch needs NAMES or --suite (see `dasb weights list`)")
        problems = command.fetch(items)
    else:
        problems = command.verify(items, missing_is_error=bool(args.names or args.suite))
    for p in problems:
        print(f"dasb: {p}", file=sys.stderr)
    return 1 if problems else 0


def _cmd_train_kmeans(args: argparse.Namespace) -> int:
    from dasb.tokenizers.ssl_kmeans import train_from_corpus

    layers = [int(x) for x in args.layers.split(",")]
    inertia = train_from_corpus(args.model, args.revision, layers, args.k, args.data, args.out,
                                args.max_utterances, args.normalize)
    for layer, value in inertia.items():
        print(f"layer {layer}: k={args.k}, mean squared distance to centroid {value:.4g}")
    print(f"saved to {args.out}")
    return 0


def _cmd_train_baseline(args: argparse.Namespace) -> int:
    from dasb.train import run

    return run(args)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def _device(text: str) -> str:
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"unknown device {text!r} (use cpu, cuda or cuda:N)") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"unsupported device {text!r} (use cpu, cuda or cuda:N)")
    return text


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (the full usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dasb", description="Benchmark discrete audio tokenizers.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="list tokenizers, benchmarks, metrics, adapters or suites")
    s.add_argument("what", choices=["tokenizers", "benchmarks", "metrics", "adapters", "suites"])
    s.add_argument("--all", action="store_true", help="include tokenizers that cannot run here")
    s.set_defaults(func=_cmd_list)

    s = sub.add_parser("info", help="describe a tokenizer, benchmark or metric")
    s.add_argument("name")
    s.set_defaults(func=_cmd_info)

    s = sub.add_parser("run", help="run a suite and print its leaderboard")
    s.add_argument("--suite", default="default", help="suite name or YAML path (default: default)")
    s.add_argument("--tokenizers", help="comma-separated tokenizer names (overrides the suite)")
    s.add_argument("--benchmarks", help="comma-separated benchmark names (overrides the suite)")
    s.add_argument("--data", help="dataset: 'mini', a manifest.jsonl, a LibriSpeech tree or a folder")
    s.add_argument("--device", default="cpu", type=_device, help="cpu or cuda")
    s.add_argument("--out", help="run directory (default: runs/SUITE); rerunning resumes")
    s.add_argument("--overwrite", default="never", choices=["never", "errors", "always"])
    s.add_argument("--batch-size", type=_positive_int)
    s.add_argument("--half", action="store_true",
                   help="float16 inference for neural adapters (meant for --device cuda); results are keyed apart")
    s.add_argument("--cache-dir", help="cache root: tokens, decoded audio, scores (default: $DASB_CACHE_DIR or ~/.cache/dasb)")
    s.add_argument("--no-cache", action="store_true", help="compute everything: no token, decoded-audio or score cache")
    s.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1,
                   help="processes for CPU-bound metrics (default: number of cores)")
    s.add_argument("--repair", action="store_true",
                   help=f"move unreadable lines of the records file aside (to {REJECTED_FILE}) instead of refusing it")
    s.add_argument("--executor", default="local", choices=["local", "ray"], help="ray: tokenizer x shard tasks on a cluster")
    s.add_argument("--address", help="Ray cluster address (default: start a local instance)")
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser("score", help="score outputs made elsewhere (decoded audio, token files) against a corpus")
    s.add_argument("--ref", required=True, help="the corpus the outputs were made from: 'mini', a manifest, a folder, ...")
    s.add_argument("--name", required=True, help="the system's row name")
    s.add_argument("--decoded", help="decoded audio: a folder of <utterance id>.<ext>, a wav.scp or a JSONL {id, audio}")
    s.add_argument("--tokens", help="token files: a folder of <utterance id>.npy|.pt|.npz, codes [codebooks, frames]")
    s.add_argument("--frame-rate", type=float, help="token frames per second (with --tokens)")
    s.add_argument("--codebook-size", help="codebook size, or comma-separated sizes per codebook (with --tokens)")
    s.add_argument("--codebooks", type=int, help="number of codebooks, with one --codebook-size "
                   "(default: the first token file's)")
    s.add_argument("--kbps", type=float, help="declared bitrate")
    s.add_argument("--coded", help="folder of coded files <utterance id>.<ext>: bitrate from their sizes")
    s.add_argument("--align", default="waveform", choices=["waveform", "envelope"],
                   help="envelope for decoders that synthesise their own phase (vocoders)")
    s.add_argument("--duration-tolerance", type=float,
                   help="seconds a decoded file may differ from its reference (default max(0.25 s, 10%%))")
    s.add_argument("--suite", default="default", help="benchmarks and their settings come from this suite")
    s.add_argument("--benchmarks", help="comma-separated benchmark names (default: all of the suite's)")
    s.add_argument("--compare", nargs="*", default=[], metavar="RUN_DIR", help="run directories shown beside it")
    s.add_argument("--out", help="run directory (default: runs/NAME); rerunning resumes")
    s.add_argument("--overwrite", default="never", choices=["never", "errors", "always"])
    s.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes for CPU-bound metrics (default: number of cores)")
    s.set_defaults(func=_cmd_score)

    s = sub.add_parser("bench", help="measure framework speed: cold/warm runs, workers, overhead, long-file memory")
    s.add_argument("--suite", default="default")
    s.add_argument("--workers", type=_positive_int, help="worker processes to compare with 1 (default: number of cores)")
    s.add_argument("--long-minutes", type=float, default=30.0, help="length of the long-file test (0 to skip)")
    s.add_argument("--long-tokenizer", default="mulaw8-8k")
    s.add_argument("--references", action="store_true",
                   help="instead: dasb's scoring (PESQ-WB, STOI, ESTOI, SI-SDR) against the reference libraries called "
                        "serially by hand, on the same pairs: both times, their ratio, the largest value differences")
    s.add_argument("--data", help="--references: corpus of the pairs (default: speech_dev of the shared data "
                                  "folder when present, else the embedded corpus)")
    s.add_argument("--utterances", type=_positive_int, default=40, help="--references: first utterances taken")
    s.add_argument("--pairs", type=_positive_int, default=280,
                   help="--references: pairs scored, the utterances through one reference codec after another")
    s.set_defaults(func=_cmd_bench)

    s = sub.add_parser("cache", help="inspect or prune the caches (tokens with decoded audio, scores)")
    s.add_argument("action", choices=["info", "prune"])
    s.add_argument("--cache-dir", help="cache folder (default: $DASB_CACHE_DIR or ~/.cache/dasb)")
    s.add_argument("--older-than-days", type=float, help="prune: only entries unused for this many days")
    s.set_defaults(func=_cmd_cache)

    s = sub.add_parser("leaderboard", help="render the leaderboard of run directories")
    s.add_argument("run_dirs", nargs="+")
    s.add_argument("--format", default="md", choices=["md", "csv", "html"])
    s.add_argument("--out", help="write to this file instead of stdout (html: a directory)")
    s.set_defaults(func=_cmd_leaderboard)

    s = sub.add_parser("compare", help="paired significance test of two tokenizers on the same utterances")
    s.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    s.add_argument("a", metavar="A", help="first tokenizer")
    s.add_argument("b", metavar="B", help="second tokenizer")
    s.add_argument("--benchmark", help="only this benchmark")
    s.add_argument("--metric", help="only this metric")
    s.set_defaults(func=_cmd_compare)

    s = sub.add_parser("doctor", help="which tokenizers and benchmarks can run here, and how to fix the rest")
    s.set_defaults(func=_cmd_doctor)

    s = sub.add_parser("weights", help="model weights per card: list what is here, fetch what is missing, verify hashes")
    s.add_argument("action", choices=["list", "fetch", "verify"])
    s.add_argument("names", nargs="*", help="tokenizer cards or weights sets (lyra-v2, nisqa); default: all (list, verify)")
    s.add_argument("--suite", help="the tokenizers of this suite")
    s.set_defaults(func=_cmd_weights)

    train = sub.add_parser("train", help="train tokenizer components").add_subparsers(dest="what", required=True)
    s = train.add_parser("kmeans", help="k-means codebooks on SSL hidden states (discrete SSL tokens)")
    s.add_argument("--model", required=True, help="SSL model: hub id or local folder (HuBERT, WavLM, wav2vec 2.0)")
    s.add_argument("--revision", help="hub revision (commit hash) of the model")
    s.add_argument("--layers", required=True, help="comma-separated hidden-state layers, e.g. 3,7,12")
    s.add_argument("--k", type=int, default=500, help="clusters per layer (default 500)")
    s.add_argument("--data", required=True, help="training corpus: a manifest, LibriSpeech tree, folder or 'mini'")
    s.add_argument("--out", required=True, help="output folder (kmeans.safetensors + kmeans.json)")
    s.add_argument("--max-utterances", type=int, help="use only the first N utterances")
    s.add_argument("--normalize", action="store_true", help="zero-mean unit-variance input (large wav2vec 2.0 / WavLM)")
    s.set_defaults(func=_cmd_train_kmeans)
    for recipe, text in (("baseline", "log-mel residual-VQ learned baseline (dasb.train)"),
                         ("mfcc-kmeans", "k-means of MFCC frames, HuBERT iteration-1 style (dasb.train)")):
        s = train.add_parser(recipe, help=text)
        s.add_argument("--data", default="mini", help="training corpus: a manifest, LibriSpeech tree, folder or 'mini'")
        s.add_argument("--out", required=True, help="checkpoint folder (model.safetensors + config.json)")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--iterations", type=int, default=25, help="Lloyd iterations per k-means (default 25)")
        s.add_argument("--stages", type=int, default=8, help="baseline: residual VQ codebooks (default 8)")
        s.add_argument("--codebook-size", type=int, default=256, help="baseline: entries per codebook (default 256)")
        s.add_argument("--clusters", type=int, default=100, help="mfcc-kmeans: clusters (default 100)")
        s.set_defaults(func=_cmd_train_baseline, recipe=recipe)
    return p


_python_format_warning = warnings.formatwarning


def _format_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    """dasb's own warning classes (e.g. a broken card file) are messages to the user: one line, no code."""
    if category.__module__.startswith("dasb."):
        return f"dasb: warning: {message}\n"
    return _python_format_warning(message, category, filename, lineno, line)


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = _format_warning
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (RegistryError, OSError, ValueError, RunDirInUse) as err:  # user mistakes: one line, no traceback
        print(f"dasb: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
