"""tpudeck: a keyboard-driven workbench for teams that share one accelerator VM."""

__version__ = "0.1.0"
