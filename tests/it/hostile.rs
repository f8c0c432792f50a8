//! A tree of hostile files yields findings and exit 1, never a panic.
