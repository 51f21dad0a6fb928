"""`pclr demo`: the whole path on the sample ECGs, in a few minutes."""

from pathlib import Path


def add_arguments(commands):
    """`pclr demo` and its flags."""
    demo = commands.add_parser(
        "demo", help="tensorize, pre-train, embed and probe the sample ECGs in a few minutes")
    demo.add_argument("--data", default=str(Path("..") / "shared" / "data" / "ptbxl"),
                      help="the PTB-XL sample folder (default: ../shared/data/ptbxl); "
                           "without it, a synthetic cohort")
    demo.add_argument("--steps", type=int, default=150, help="pre-training steps")
    demo.add_argument("--limit", type=int, default=0,
                      help="use only this many patients (PTB-XL: those with most ECGs)")
    demo.add_argument("--out", default="pclr_demo", help="output folder")
    demo.set_defaults(run=run)


def run(args):
    from pclr_keras.demo import run_demo

    run_demo(args.data, args.out, steps=args.steps, limit=args.limit)
