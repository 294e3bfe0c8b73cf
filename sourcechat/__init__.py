"""sourcechat: cited answers from a collection of articles, offline."""

__version__ = "0.1.0"
