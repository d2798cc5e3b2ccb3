"""`charlm-tui export CKPT --to model.safetensors [--float64] [--torch-module model.py]`: a model for PyTorch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from charlm_tui.arguments import OneLineParser
from core.checkpoint import CheckpointError, check_writable_path, load_checkpoint
from core.export import AN_EXPORT, ExportError, write_safetensors, write_torch_module


def build_export_parser() -> OneLineParser:
    parser = OneLineParser(prog="charlm-tui export", description="Write a checkpoint's model for PyTorch: its weights, "
                           "vocabulary and settings as safetensors, and a PyTorch module that loads them.")
    parser.add_argument("checkpoint", metavar="CKPT", help="a checkpoint saved by charlm-tui (^S, or --save)")
    parser.add_argument("--to", metavar="PATH", help="write the safetensors file here (e.g. model.safetensors)")
    parser.add_argument("--float64", action="store_true",
                        help="store the weights as float64, exactly as trained [float32, PyTorch's default]")
    parser.add_argument("--torch-module", metavar="PATH",
                        help="write a PyTorch module here (e.g. model.py) that loads that file and generates text "
                             "(a plain nn.Module; torch.jit.script takes it)")
    parser.add_argument("--torch-script", dest="torch_module", metavar="PATH", action=Deprecated,
                        help="the old name of --torch-module (in PyTorch, TorchScript means torch.jit)")
    return parser


class Deprecated(argparse.Action):
    """An option kept under its old name: it works, and says its new one."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: warning: {option_string} is now --torch-module (the module is a plain nn.Module, not "
              "TorchScript)", file=sys.stderr)
        setattr(namespace, self.dest, values)


def check_outputs(args) -> None:
    """Both outputs can be written, before either is: writable, named for what they hold (so never the same file),
    and never over a file but an earlier export (the checkpoint itself, a corpus, somebody's code)."""
    outputs = [(args.to, "model.safetensors", "--to"), (args.torch_module, "model.py", "--torch-module")]
    for path, example, flag in outputs:
        if path is None:
            continue
        path, suffix = Path(path), Path(example).suffix
        if path.suffix != suffix and not path.is_dir():  # a folder is said to be one, below
            raise ExportError(f"{flag} {path.name}: name it *{suffix}, e.g. {path.with_suffix(suffix).name}")
        check_writable_path(path, example, ExportError, AN_EXPORT)


def export_main(argv: list[str]) -> int:
    parser = build_export_parser()
    args = parser.parse_args(argv)
    if args.to is None and args.torch_module is None:
        parser.error("nothing to write: add --to model.safetensors, --torch-module model.py, or both")
    if args.float64 and args.to is None:
        parser.error("--float64 sets how the --to file stores the weights: add --to model.safetensors, or drop it")
    dtype = "float64" if args.float64 else "float32"
    try:
        checkpoint = load_checkpoint(args.checkpoint)
        check_outputs(args)
        if args.to is not None:
            path = write_safetensors(checkpoint, args.to, dtype)
            print(f"weights: {path} ({checkpoint.model.num_parameters():,} parameters as {dtype}, "
                  f"with the vocabulary and the settings)")
        if args.torch_module is not None:
            path = write_torch_module(checkpoint, args.torch_module)
            weights = args.to or "MODEL.safetensors (write one with --to)"
            print(f"PyTorch module: {path} (python {path} {weights} [PROMPT] prints a sample)")
    except (CheckpointError, ExportError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except OSError as error:  # the disk filled up, say, after the checks
        parser.exit(1, f"{parser.prog}: error: could not write the export: {error}\n")
    return 0
