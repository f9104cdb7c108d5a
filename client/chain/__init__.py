"""Chain I/O: one async interface over the in-process SVM and JSON-RPC validators."""
